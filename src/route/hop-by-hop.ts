import type { IncomingHttpHeaders } from 'node:http';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1 plus the historical ones): they
 * describe one connection and are never forwarded in either direction.
 * `Transfer-Encoding` is listed for responses only: on requests Node keeps
 * the body's framing by re-chunking it, which needs the header.
 *
 * @example
 * deleteAll(req.headers, HOP_BY_HOP_REQUEST);
 */
export const HOP_BY_HOP_REQUEST: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
];

/**
 * The response-side list: the request list plus `Transfer-Encoding` (Node frames the response).
 *
 * @example
 * deleteAll(proxyRes.headers, HOP_BY_HOP_RESPONSE);
 */
export const HOP_BY_HOP_RESPONSE: readonly string[] = [...HOP_BY_HOP_REQUEST, 'transfer-encoding'];

/**
 * Names a peer may list in `Connection` without them being dropped: dropping
 * them would change the message's framing or routing, which is Node's and the
 * gateway's job, not a peer's.
 */
const PROTECTED = new Set(['content-length', 'transfer-encoding', 'host']);

/**
 * Deletes from `headers` every header named in its `Connection` value
 * (RFC 9110 §7.6.1). The common values `keep-alive`, `close` and `upgrade`
 * name nothing else and cost no split.
 *
 * @example
 * deleteConnectionNamed(headers); // with `connection: close, x-secret` removes `x-secret`
 */
export function deleteConnectionNamed(headers: IncomingHttpHeaders): void {
  const value = headers.connection;
  if (value === undefined) return;
  const lower = value.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close' || lower === 'upgrade') return;
  for (const token of lower.split(',')) {
    const name = token.trim();
    if (name !== '' && !PROTECTED.has(name)) delete headers[name];
  }
}

/**
 * Deletes the listed (lower-case) names from `headers`, touching only those present.
 *
 * @example
 * deleteAll(req.headers, ['x-a', 'x-b']);
 */
export function deleteAll(headers: IncomingHttpHeaders, names: readonly string[]): void {
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (headers[name] !== undefined) delete headers[name];
  }
}
