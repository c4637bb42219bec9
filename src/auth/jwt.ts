import { createPublicKey, type KeyObject } from 'node:crypto';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { parseDuration } from '../duration.js';
import { GatewayConfigError } from '../errors.js';
import {
  expectObject,
  expectString,
  expectStringArray,
  fieldPath,
  rejectUnknownKeys,
} from '../options.js';
import type { Principal } from '../types.js';
import { JwksCache, type JwksCacheSource, JwksUnavailableError } from './jwks.js';
import type { JwtAlgorithm } from './options.js';
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

const HMAC: readonly JwtAlgorithm[] = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC: readonly JwtAlgorithm[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];
/** Minimum HMAC secret length in bytes (RFC 7518 §3.2 asks for at least the hash size; 32 covers HS256). */
const MIN_SECRET_BYTES = 32;
const EC_CURVES: Partial<Record<JwtAlgorithm, string>> = {
  ES256: 'prime256v1',
  ES384: 'secp384r1',
  ES512: 'secp521r1',
};

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
 * Validates `jwt` options and builds the strategy. The cache of a `jwksUri` comes from
 * `jwksCache` when given (and is then not closed with the strategy: its owner releases it).
 */
export function createJwtStrategy(
  value: unknown,
  field: string,
  jose: Promise<Jose>,
  warn: (field: string, message: string) => void,
  jwksCache?: JwksCacheSource,
): JwtStrategy {
  const raw = expectObject(value, field);
  rejectUnknownKeys(
    raw,
    [
      'algorithms',
      'secret',
      'publicKey',
      'jwksUri',
      'issuer',
      'audience',
      'clockTolerance',
      'requiredClaims',
      'scopeClaim',
      'jwksCooldown',
      'jwksTimeout',
      'jwksMaxAge',
    ],
    field,
  );
  const algorithms = resolveAlgorithms(raw.algorithms, fieldPath(field, 'algorithms'));
  const sources = ['secret', 'publicKey', 'jwksUri'].filter((k) => raw[k] !== undefined);
  if (sources.length !== 1) {
    throw new GatewayConfigError(
      field,
      `needs exactly one key source: secret (HS*), publicKey (PEM) or jwksUri${sources.length ? ` (got ${sources.join(' and ')})` : ''}`,
    );
  }
  const symmetric = raw.secret !== undefined;
  const family = symmetric ? HMAC : ASYMMETRIC;
  const foreign = algorithms.filter((a) => !family.includes(a));
  if (foreign.length) {
    throw new GatewayConfigError(
      fieldPath(field, 'algorithms'),
      symmetric
        ? `${foreign.join(', ')} cannot be verified with a shared secret; with secret use HS256, HS384 or HS512`
        : `${foreign.join(', ')} needs a shared secret; with ${sources[0]} use asymmetric algorithms such as RS256 or ES256`,
    );
  }
  if (raw.jwksUri === undefined) {
    for (const k of ['jwksCooldown', 'jwksTimeout', 'jwksMaxAge']) {
      if (raw[k] !== undefined)
        throw new GatewayConfigError(fieldPath(field, k), 'only applies with jwksUri');
    }
  }

  let key: Uint8Array | KeyObject | JWTVerifyGetKey;
  let jwks: JwksCache | undefined;
  if (raw.secret !== undefined) {
    const secretField = fieldPath(field, 'secret');
    const secret = expectString(raw.secret, secretField);
    const bytes = Buffer.from(secret, 'utf8');
    if (bytes.length < MIN_SECRET_BYTES) {
      throw new GatewayConfigError(
        secretField,
        `must be at least ${MIN_SECRET_BYTES} bytes long (e.g. crypto.randomBytes(32).toString('base64url'))`,
        'ERR_CONFIG_INVALID_KEY',
      );
    }
    key = new Uint8Array(bytes);
  } else if (raw.publicKey !== undefined) {
    key = resolvePublicKey(raw.publicKey, fieldPath(field, 'publicKey'), algorithms);
  } else {
    const uriField = fieldPath(field, 'jwksUri');
    const uri = expectString(raw.jwksUri, uriField);
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw new GatewayConfigError(
        uriField,
        "must be an absolute http(s) URL (e.g. 'https://idp.example.com/.well-known/jwks.json')",
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new GatewayConfigError(uriField, 'must be an http(s) URL');
    }
    if (url.username || url.password) {
      throw new GatewayConfigError(uriField, 'must not contain credentials');
    }
    if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
      warn(
        uriField,
        'fetches keys over plain http; anyone on the path could substitute them (use https)',
      );
    }
    const timing = {
      cooldownMs: optionalDuration(raw.jwksCooldown, fieldPath(field, 'jwksCooldown'), 30_000),
      timeoutMs: optionalDuration(raw.jwksTimeout, fieldPath(field, 'jwksTimeout'), 5_000),
      maxAgeMs: optionalDuration(raw.jwksMaxAge, fieldPath(field, 'jwksMaxAge'), 600_000),
    };
    jwks =
      jwksCache === undefined
        ? new JwksCache(url.href, timing, jose)
        : jwksCache(url.href, timing, jose);
    key = jwks.getKey;
  }

  const options: JWTVerifyOptions = { algorithms: [...algorithms] };
  if (raw.issuer !== undefined)
    options.issuer = stringOrList(raw.issuer, fieldPath(field, 'issuer'));
  if (raw.audience !== undefined)
    options.audience = stringOrList(raw.audience, fieldPath(field, 'audience'));
  if (raw.clockTolerance !== undefined) {
    const tolField = fieldPath(field, 'clockTolerance');
    options.clockTolerance =
      raw.clockTolerance === 0 ? 0 : parseDuration(raw.clockTolerance, tolField) / 1000;
  }
  const required =
    raw.requiredClaims === undefined
      ? []
      : expectStringArray(raw.requiredClaims, fieldPath(field, 'requiredClaims'));
  options.requiredClaims = [...new Set(['sub', ...required])];
  const scopeClaim =
    raw.scopeClaim === undefined
      ? undefined
      : expectString(raw.scopeClaim, fieldPath(field, 'scopeClaim'));

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
            ? (await lib.jwtVerify(token, key, options)).payload
            : (await lib.jwtVerify(token, key, options)).payload;
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

function resolveAlgorithms(value: unknown, field: string): JwtAlgorithm[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new GatewayConfigError(field, "is required: a non-empty allow-list such as ['RS256']");
  }
  const out: JwtAlgorithm[] = [];
  value.forEach((item, i) => {
    const at = `${field}[${i}]`;
    const alg = expectString(item, at);
    if (alg.trim().toLowerCase() === 'none') {
      throw new GatewayConfigError(at, "'none' (unsigned tokens) is never accepted");
    }
    const known = [...HMAC, ...ASYMMETRIC].find((a) => a === alg);
    if (known === undefined) {
      const hint = [...HMAC, ...ASYMMETRIC].find((a) => a.toLowerCase() === alg.toLowerCase());
      throw new GatewayConfigError(
        at,
        hint
          ? `unknown algorithm '${alg}' (did you mean '${hint}'?)`
          : `unknown algorithm '${alg}' (supported: ${[...HMAC, ...ASYMMETRIC].join(', ')})`,
      );
    }
    if (!out.includes(known)) out.push(known);
  });
  return out;
}

function resolvePublicKey(
  value: unknown,
  field: string,
  algorithms: readonly JwtAlgorithm[],
): KeyObject {
  const pem = expectString(value, field);
  if (pem.includes('PRIVATE KEY')) {
    throw new GatewayConfigError(
      field,
      'is a private key; configure the public key (SPKI PEM) only',
      'ERR_CONFIG_INVALID_KEY',
    );
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new GatewayConfigError(
      field,
      "must be a PEM public key ('-----BEGIN PUBLIC KEY-----…') or certificate",
      'ERR_CONFIG_INVALID_KEY',
    );
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  for (const alg of algorithms) {
    let fits: boolean;
    if (alg.startsWith('RS')) fits = type === 'rsa';
    else if (alg.startsWith('PS')) fits = type === 'rsa' || type === 'rsa-pss';
    else if (alg.startsWith('ES')) fits = type === 'ec' && details.namedCurve === EC_CURVES[alg];
    else fits = type === 'ed25519';
    if (!fits) {
      throw new GatewayConfigError(
        fieldPath(field.slice(0, field.lastIndexOf('.')), 'algorithms'),
        `${alg} does not fit the configured public key (a ${type}${details.namedCurve ? ` ${details.namedCurve}` : ''} key)`,
        'ERR_CONFIG_INVALID_KEY',
      );
    }
  }
  if ((type === 'rsa' || type === 'rsa-pss') && (details.modulusLength ?? 0) < 2048) {
    throw new GatewayConfigError(
      field,
      'RSA keys must be at least 2048 bits',
      'ERR_CONFIG_INVALID_KEY',
    );
  }
  return key;
}

function stringOrList(value: unknown, field: string): string | string[] {
  if (typeof value === 'string') return expectString(value, field);
  const list = expectStringArray(value, field);
  if (list.length === 0)
    throw new GatewayConfigError(field, 'must be a string or a non-empty array of strings');
  return list;
}

function optionalDuration(value: unknown, field: string, fallback: number): number {
  return value === undefined ? fallback : parseDuration(value, field);
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname.startsWith('127.');
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
