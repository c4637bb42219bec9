import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from '../types.js';

/**
 * Makes a principal value safe as an HTTP header value. Visible ASCII other
 * than `%` passes unchanged (the usual ids and scopes); anything else (space,
 * CR, LF, controls, non-ASCII, `%`) is percent-encoded as UTF-8, so
 * `decodeURIComponent(value)` always gives back the exact original and no
 * value can break the header framing or make Node throw.
 */
export function encodeHeaderValue(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x25) return encodeSlow(value);
  }
  return value;
}

function encodeSlow(value: string): string {
  let out = '';
  for (const char of value) {
    const c = char.codePointAt(0) as number;
    if (c > 0x20 && c < 0x7f && c !== 0x25) out += char;
    else {
      try {
        out += encodeURIComponent(char);
      } catch {
        out += '%EF%BF%BD'; // a lone surrogate has no UTF-8 form: U+FFFD stands in
      }
    }
  }
  return out;
}

/** Scopes as one header value: each scope encoded, joined by single spaces. */
export function encodeScopes(scopes: readonly string[]): string {
  let out = '';
  for (let i = 0; i < scopes.length; i++) {
    if (i > 0) out += ' ';
    out += encodeHeaderValue(scopes[i] as string);
  }
  return out;
}

/**
 * Header names (lower-case) the upstream receives the principal under: its id,
 * its scopes and its kind (`apiKey`, `jwt`, `basic`, `custom`).
 *
 * @example
 * const names: ConsumerHeaderNames = DEFAULT_CONSUMER_HEADERS;
 */
export interface ConsumerHeaderNames {
  readonly id: string;
  readonly scopes: string;
  readonly type: string;
}

/**
 * The default names: `x-consumer-id`, `x-consumer-scopes`, `x-consumer-type`.
 *
 * @example
 * requestHeaderPlan(rules, DEFAULT_CONSUMER_HEADERS);
 */
export const DEFAULT_CONSUMER_HEADERS: ConsumerHeaderNames = Object.freeze({
  id: 'x-consumer-id',
  scopes: 'x-consumer-scopes',
  type: 'x-consumer-type',
});

/** Removes client-sent copies of the consumer headers. */
export function removeConsumerHeaders(
  headers: IncomingHttpHeaders,
  names: ConsumerHeaderNames,
): void {
  if (headers[names.id] !== undefined) delete headers[names.id];
  if (headers[names.scopes] !== undefined) delete headers[names.scopes];
  if (headers[names.type] !== undefined) delete headers[names.type];
}

/**
 * Replaces client-sent consumer headers by the principal's (an anonymous
 * principal sets none). `encoded` lets the API-key path reuse values encoded
 * at startup. The kind needs no encoding: it is one of four fixed tokens.
 */
export function setConsumerHeaders(
  headers: IncomingHttpHeaders,
  names: ConsumerHeaderNames,
  principal: Principal,
  encoded?: { id: string; scopes: string },
): void {
  removeConsumerHeaders(headers, names);
  if (principal.type === 'anonymous') return;
  if (encoded) {
    headers[names.id] = encoded.id;
    headers[names.scopes] = encoded.scopes;
  } else {
    headers[names.id] = encodeHeaderValue(principal.id);
    headers[names.scopes] = encodeScopes(principal.scopes);
  }
  headers[names.type] = principal.type;
}
