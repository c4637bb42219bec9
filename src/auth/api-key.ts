import { timingSafeEqual } from 'node:crypto';
import type { ApiKeyVerifier, ResolvedApiKey, ResolvedAuthOptions } from '../schema/auth.js';
import type { GatewayRequest, Principal } from '../types.js';
import { encodeHeaderValue, encodeScopes } from './consumer-headers.js';
import { digestApiKey } from './hash-api-key.js';
import { type AuthFailure, INVALID_KEY, VERIFIER_ERROR } from './outcome.js';
import { grantedPrincipal, normalizePrincipal } from './principal.js';
import { isThenable } from './thenable.js';

/** One configured key, prepared at startup: only its digest is kept, never the key. */
interface KeyEntry extends ResolvedApiKey {
  /** X-Consumer-Id / X-Consumer-Scopes values, encoded once. */
  encoded: { id: string; scopes: string };
}

/** The API-key strategy, built once. */
export interface ApiKeyStrategy {
  /** Lower-case header name. */
  readonly header: string;
  /** Query parameter name, when enabled. */
  readonly query: string | undefined;
  /**
   * Decides a presented key. With a key list this is synchronous (one hash,
   * one Map lookup, one constant-time compare); with a verifier function it
   * may return a promise.
   */
  authenticate(key: string, req: GatewayRequest): ApiKeyResult | Promise<ApiKeyResult>;
}

/** A principal (with its pre-encoded consumer header values for listed keys) or a failure. */
export type ApiKeyResult =
  | AuthFailure
  | { principal: Principal; encoded?: { id: string; scopes: string } };

/** Compared against on a miss, so an unknown key costs the same as a wrong one. */
const DUMMY_DIGEST = Buffer.alloc(32);

/**
 * Builds the strategy from parsed `apiKey` options (see `parseAuthOptions`): listed keys go
 * into a map by digest, with their consumer header values encoded once.
 *
 * @example
 * const strategy = createApiKeyStrategy(parseAuthOptions({ apiKey: { keys } }).value.apiKey!);
 */
export function createApiKeyStrategy(
  options: NonNullable<ResolvedAuthOptions['apiKey']>,
): ApiKeyStrategy {
  const { header, query, keys } = options;
  if (typeof keys === 'function') {
    return { header, query, authenticate: verifierAuthenticate(keys) };
  }
  const entries = new Map<string, KeyEntry>();
  for (const entry of keys) {
    entries.set(entry.digest.toString('latin1'), {
      ...entry,
      encoded: { id: encodeHeaderValue(entry.id), scopes: encodeScopes(entry.scopes) },
    });
  }
  return {
    header,
    query,
    authenticate(key: string): ApiKeyResult {
      const digest = digestApiKey(key);
      const entry = entries.get(digest.toString('latin1'));
      if (entry === undefined) {
        timingSafeEqual(digest, DUMMY_DIGEST);
        return INVALID_KEY;
      }
      if (!timingSafeEqual(digest, entry.digest)) return INVALID_KEY;
      return { principal: grantedPrincipal(entry.id, 'apiKey', entry), encoded: entry.encoded };
    },
  };
}

function verifierAuthenticate(
  verifier: ApiKeyVerifier,
): (key: string, req: GatewayRequest) => ApiKeyResult | Promise<ApiKeyResult> {
  return function verifyApiKey(key, req) {
    let result: ReturnType<ApiKeyVerifier>;
    try {
      result = verifier(key, req);
    } catch {
      return VERIFIER_ERROR;
    }
    if (isThenable(result)) return Promise.resolve(result).then(settle, () => VERIFIER_ERROR);
    return settle(result);
  };
}

function settle(result: unknown): ApiKeyResult {
  if (result === null || result === undefined) return INVALID_KEY;
  const principal = normalizePrincipal(result, 'apiKey');
  return principal === undefined ? VERIFIER_ERROR : { principal };
}
