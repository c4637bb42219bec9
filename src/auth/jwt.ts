import type { KeyObject } from 'node:crypto';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import type { ResolvedJwtOptions } from '../schema/auth.js';
import type { Principal } from '../types.js';
import { JwksCache, type JwksCacheSource, JwksUnavailableError } from './jwks.js';
import {
  type AuthFailure,
  INVALID_CLAIMS,
  INVALID_TOKEN,
  JWKS_UNAVAILABLE,
  TOKEN_EXPIRED,
  TOKEN_NOT_YET_VALID,
  VERIFIER_ERROR,
} from './outcome.js';

type Jose = typeof import('jose');

/** The JWT strategy, built once. */
export interface JwtStrategy {
  /** Verifies a bearer token: a principal (`id` = `sub`) or why not. */
  verify(token: string): Promise<Principal | AuthFailure>;
  /** The JWKS cache, when keys come from `jwksUri`. */
  readonly jwks: JwksCache | undefined;
  close(): void;
}

/** Starts loading jose (ESM-only) at construction, so the CommonJS build works and the first request does not wait. */
export function loadJose(): Promise<Jose> {
  const loading = import('jose');
  // A failure is reported on the first request (500), never as an unhandled rejection.
  loading.catch(() => {});
  return loading;
}

/**
 * Builds the strategy from parsed `jwt` options (see `parseAuthOptions`): the key (a secret,
 * a parsed public key, or a JWKS cache) and jose's verification options, once. The cache of a
 * `jwksUri` comes from `jwksCache` when given (and is then not closed with the strategy: its
 * owner releases it).
 *
 * @example
 * const strategy = createJwtStrategy(parseAuthOptions({ jwt }).value.jwt!, loadJose());
 */
export function createJwtStrategy(
  options: ResolvedJwtOptions,
  jose: Promise<Jose>,
  jwksCache?: JwksCacheSource,
): JwtStrategy {
  let key: Uint8Array | KeyObject | JWTVerifyGetKey;
  let jwks: JwksCache | undefined;
  const source = options.key;
  if (source.kind === 'secret') key = source.bytes;
  else if (source.kind === 'publicKey') key = source.key;
  else {
    jwks =
      jwksCache === undefined
        ? new JwksCache(source.uri, source.timing, jose)
        : jwksCache(source.uri, source.timing, jose);
    key = jwks.getKey;
  }
  const verifyOptions: JWTVerifyOptions = { algorithms: [...options.algorithms] };
  if (options.issuer !== undefined) {
    verifyOptions.issuer =
      typeof options.issuer === 'string' ? options.issuer : [...options.issuer];
  }
  if (options.audience !== undefined) {
    verifyOptions.audience =
      typeof options.audience === 'string' ? options.audience : [...options.audience];
  }
  if (options.clockToleranceSec !== undefined)
    verifyOptions.clockTolerance = options.clockToleranceSec;
  verifyOptions.requiredClaims = [...options.requiredClaims];
  const scopeClaim = options.scopeClaim;

  return {
    jwks,
    // A cache from `jwksCache` belongs to whoever handed it out.
    close: () => {
      if (jwksCache === undefined) jwks?.close();
    },
    async verify(token) {
      let lib: Jose;
      try {
        lib = await jose;
      } catch {
        return VERIFIER_ERROR;
      }
      let payload: JWTPayload;
      try {
        // A key function or a fixed key; jose never consults keys embedded in the token.
        payload =
          typeof key === 'function'
            ? (await lib.jwtVerify(token, key, verifyOptions)).payload
            : (await lib.jwtVerify(token, key, verifyOptions)).payload;
      } catch (err) {
        return mapJoseError(err);
      }
      const sub = payload.sub;
      if (typeof sub !== 'string' || sub.length === 0) return INVALID_CLAIMS;
      const scopes = readScopes(payload, scopeClaim);
      if (scopes === undefined) return INVALID_CLAIMS;
      return { id: sub, type: 'jwt', scopes, claims: payload };
    },
  };
}

/** Scopes from `scopeClaim`, else `scope` (space-separated) or `scp` (array); `undefined` when malformed. */
function readScopes(payload: JWTPayload, scopeClaim: string | undefined): string[] | undefined {
  if (scopeClaim !== undefined) return scopeValue(payload[scopeClaim]);
  if (payload.scope !== undefined) return scopeValue(payload.scope);
  return scopeValue(payload.scp);
}

function scopeValue(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (typeof value === 'string') return value.split(' ').filter((s) => s.length > 0);
  if (Array.isArray(value) && value.every((s) => typeof s === 'string'))
    return [...(value as string[])];
  return undefined;
}

function mapJoseError(err: unknown): AuthFailure {
  if (err instanceof JwksUnavailableError) return JWKS_UNAVAILABLE;
  const e = err as { code?: unknown; claim?: unknown; reason?: unknown } | null;
  const code = e !== null && typeof e === 'object' ? e.code : undefined;
  if (code === 'ERR_JWT_EXPIRED') return TOKEN_EXPIRED;
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
    const claim = (e as { claim?: unknown }).claim;
    const reason = (e as { reason?: unknown }).reason;
    return claim === 'nbf' && reason === 'check_failed' ? TOKEN_NOT_YET_VALID : INVALID_CLAIMS;
  }
  return INVALID_TOKEN;
}
