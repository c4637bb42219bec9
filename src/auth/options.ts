import type { Duration } from '../duration.js';
import { GatewayConfigError } from '../errors.js';
import {
  expectBoolean,
  expectObject,
  expectString,
  expectStringArray,
  fieldPath,
  rejectUnknownKeys,
} from '../options.js';
import type { GatewayEventListener, GatewayRequest, Principal } from '../types.js';
import { type ConsumerHeaderNames, DEFAULT_CONSUMER_HEADERS } from './consumer-headers.js';

/**
 * One API key: a consumer id and either the key itself or its `hashApiKey()`
 * digest (preferred: the plain key then never needs to be in your config).
 * Defaults: `scopes: []`, no plan, no metadata.
 *
 * @example
 * { id: 'billing-svc', hash: hashApiKey(process.env.BILLING_KEY!), scopes: ['orders:read'], plan: 'pro' }
 */
export type ApiKeyEntry = {
  /** Consumer id: becomes `principal.id` and `X-Consumer-Id`. Unique in the list. */
  id: string;
  /** Scopes granted to the key. Default `[]`. */
  scopes?: string[];
  /** Rate limit plan (see `rateLimit({ plans })`). */
  plan?: string;
  /** Anything else, copied to `principal.metadata`. */
  metadata?: Record<string, unknown>;
} & ({ key: string; hash?: never } | { hash: string; key?: never });

/**
 * Looks a presented key up elsewhere (a database). Returns the principal, or
 * `null` for an unknown key (401). The principal's `type` is set to `'apiKey'`.
 * Throwing or rejecting answers 500.
 *
 * @example
 * const keys: ApiKeyVerifier = async (key) => {
 *   const row = await db.keyByHash(hashApiKey(key));
 *   return row ? { id: row.owner, type: 'apiKey', scopes: row.scopes } : null;
 * };
 */
export type ApiKeyVerifier = (
  key: string,
  req: GatewayRequest,
) => Principal | null | Promise<Principal | null>;

/**
 * API keys (`X-Api-Key` by default).
 *
 * @example
 * { header: 'x-api-key', keys: [{ id: 'alice', hash: hashApiKey('k-123'), scopes: ['read'] }] }
 */
export interface ApiKeyOptions {
  /** Request header carrying the key. Default `'x-api-key'`. */
  header?: string;
  /** Query parameter carrying the key; off by default. Removed from the forwarded query string. */
  query?: string;
  /** The keys, or a function that looks a presented key up. */
  keys: readonly ApiKeyEntry[] | ApiKeyVerifier;
}

/**
 * JWS algorithms accepted in `jwt.algorithms` (`none` never is). No default:
 * the allow-list is required.
 *
 * @example
 * const algorithms: JwtAlgorithm[] = ['RS256', 'PS256'];
 */
export type JwtAlgorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'
  | 'Ed25519';

/**
 * Exactly one key source: a shared secret (HS*), a PEM public key, or a
 * remote JWKS. No default.
 *
 * @example
 * { jwksUri: 'https://idp.example.com/.well-known/jwks.json' }
 */
export type JwtKeySource =
  | { secret: string; publicKey?: never; jwksUri?: never }
  | { publicKey: string; secret?: never; jwksUri?: never }
  | { jwksUri: string; secret?: never; publicKey?: never };

/**
 * Bearer JWTs, verified with `jose`.
 *
 * @example
 * { algorithms: ['RS256'], jwksUri: 'https://idp.example.com/.well-known/jwks.json',
 *   issuer: 'https://idp.example.com/', audience: 'orders-api' }
 */
export type JwtOptions = JwtKeySource & {
  /** Required allow-list, e.g. `['RS256']`. All from the key source's family. */
  algorithms: readonly JwtAlgorithm[];
  /** Accepted `iss` value(s). Default: not checked. */
  issuer?: string | readonly string[];
  /** Accepted `aud` value(s). Default: not checked. */
  audience?: string | readonly string[];
  /** Leeway for `exp`/`nbf`, e.g. `'30s'`. Default `0`. */
  clockTolerance?: Duration;
  /** Claims that must be present. Default `[]` (`sub` is always required). */
  requiredClaims?: readonly string[];
  /** Claim holding the scopes. Default: `scope` (space-separated), else `scp` (array). */
  scopeClaim?: string;
  /** JWKS only: least time between two fetches (unknown `kid`s wait for it). Default `'30s'`. */
  jwksCooldown?: Duration;
  /** JWKS only: a fetch that takes longer fails. Default `'5s'`. */
  jwksTimeout?: Duration;
  /** JWKS only: keys older than this are refreshed in the background. Default `'10m'`. */
  jwksMaxAge?: Duration;
};

/**
 * A Basic user; `passwordHash` comes from `hashPassword()`. Default `scopes: []`.
 *
 * @example
 * { username: 'ops', passwordHash: hashPassword('correct horse battery staple'), scopes: ['admin'] }
 */
export interface BasicUser {
  username: string;
  passwordHash: string;
  scopes?: string[];
  plan?: string;
  metadata?: Record<string, unknown>;
}

/**
 * Checks a Basic username and password elsewhere. Returns the principal or
 * `null` (401); its `type` is set to `'basic'`. Throwing answers 500.
 *
 * @example
 * const users: BasicVerifier = async (username, password) =>
 *   (await ldap.bind(username, password)) ? { id: username, type: 'basic', scopes: [] } : null;
 */
export type BasicVerifier = (
  username: string,
  password: string,
  req: GatewayRequest,
) => Principal | null | Promise<Principal | null>;

/**
 * HTTP Basic (RFC 7617).
 *
 * @example
 * { users: [{ username: 'ops', passwordHash: hashPassword('s3cret-pass') }], realm: 'admin' }
 */
export interface BasicOptions {
  users: readonly BasicUser[] | BasicVerifier;
  /** Realm in the `WWW-Authenticate: Basic` challenge. Default: the top-level `realm`. */
  realm?: string;
}

/**
 * A custom strategy, tried last: returns a principal, or `null` when it does
 * not authenticate the request (then the request counts as carrying no
 * credentials). Its `type` is set to `'custom'`. Throwing answers 500.
 *
 * @example
 * const verify: CustomVerifier = async (req) => {
 *   const session = await sessions.get(req.headers.cookie);
 *   return session ? { id: session.userId, type: 'custom', scopes: session.scopes } : null;
 * };
 */
export type CustomVerifier = (req: GatewayRequest) => Principal | null | Promise<Principal | null>;

/**
 * Options of `authenticate()` and `createGateway({ auth })`. At least one
 * strategy (`apiKey`, `jwt`, `basic`, `verify`) is required.
 *
 * @example
 * authenticate({ apiKey: { keys: [{ id: 'alice', key: process.env.ALICE_KEY! }] }, scopes: ['read'] })
 */
export interface AuthOptions {
  apiKey?: ApiKeyOptions;
  jwt?: JwtOptions;
  basic?: BasicOptions;
  verify?: CustomVerifier;
  /** Default `false`. `true`: a request without credentials passes as the anonymous principal. */
  optional?: boolean;
  /** Scopes that are all required, else 403. Default `[]`. */
  scopes?: readonly string[];
  /** Default `false`: the credential is removed before the request is forwarded. */
  forwardCredentials?: boolean;
  /**
   * Header names the upstream receives the principal under. Default `x-consumer-id`,
   * `x-consumer-scopes` and `x-consumer-type` (the principal's kind: `apiKey`, `jwt`,
   * `basic` or `custom`). Client-sent copies of these names are always removed.
   */
  consumerHeaders?: ConsumerHeaderOptions;
  /** Realm of the `WWW-Authenticate` challenges. Default `'api'`. */
  realm?: string;
  /** Standalone `authenticate()` only: `auth.*` events, and `request.completed` for the requests it answers (`createGateway` has its own). */
  onEvent?: GatewayEventListener;
}

/**
 * What a route requires; `createGateway` builds one per route. Default: the
 * options' own `{ optional: false, scopes: [] }`.
 *
 * @example
 * authenticator.step({ optional: false, scopes: ['orders:read'] }, 'orders');
 */
export interface AuthRequirement {
  optional: boolean;
  scopes: readonly string[];
}

/**
 * Renames the headers the upstream receives the principal under (`authenticate()`,
 * `createGateway({ auth })`), or names those a `route()` without authentication strips.
 * Each defaults to its `x-consumer-*` name.
 *
 * @example
 * const names: ConsumerHeaderOptions = { id: 'X-User', scopes: 'X-User-Scopes', type: 'X-User-Kind' };
 */
export interface ConsumerHeaderOptions {
  /** Default `x-consumer-id`. */
  id?: string;
  /** Default `x-consumer-scopes`. */
  scopes?: string;
  /** Default `x-consumer-type`. */
  type?: string;
}

/** The options every strategy shares, validated. */
export interface CommonAuthOptions {
  requirement: AuthRequirement;
  forwardCredentials: boolean;
  consumerHeaders: ConsumerHeaderNames;
  realm: string;
  onEvent: GatewayEventListener | undefined;
}

export const AUTH_OPTION_KEYS = [
  'apiKey',
  'jwt',
  'basic',
  'verify',
  'optional',
  'scopes',
  'forwardCredentials',
  'consumerHeaders',
  'realm',
  'onEvent',
] as const;

/** Validates the options shared by every strategy (the strategies validate their own). */
export function resolveCommonOptions(
  raw: Record<string, unknown>,
  field: string,
): CommonAuthOptions {
  rejectUnknownKeys(raw, AUTH_OPTION_KEYS, field);
  if (
    raw.apiKey === undefined &&
    raw.jwt === undefined &&
    raw.basic === undefined &&
    raw.verify === undefined
  ) {
    throw new GatewayConfigError(
      field || 'auth',
      "needs at least one strategy: apiKey, jwt, basic or verify (e.g. { apiKey: { keys: [{ id: 'alice', key: '…' }] } })",
    );
  }
  const optional =
    raw.optional === undefined ? false : expectBoolean(raw.optional, fieldPath(field, 'optional'));
  const scopes =
    raw.scopes === undefined ? [] : expectScopes(raw.scopes, fieldPath(field, 'scopes'));
  const forwardCredentials =
    raw.forwardCredentials === undefined
      ? false
      : expectBoolean(raw.forwardCredentials, fieldPath(field, 'forwardCredentials'));
  const realm = raw.realm === undefined ? 'api' : expectRealm(raw.realm, fieldPath(field, 'realm'));
  let onEvent: GatewayEventListener | undefined;
  if (raw.onEvent !== undefined) {
    if (field !== '') {
      throw new GatewayConfigError(
        fieldPath(field, 'onEvent'),
        'is for standalone authenticate(); pass onEvent to createGateway instead',
      );
    }
    if (typeof raw.onEvent !== 'function')
      throw new GatewayConfigError('onEvent', 'must be a function');
    onEvent = raw.onEvent as GatewayEventListener;
  }
  const consumerHeaders = resolveConsumerHeaders(
    raw.consumerHeaders,
    fieldPath(field, 'consumerHeaders'),
  );
  return {
    requirement: { optional, scopes },
    forwardCredentials,
    consumerHeaders,
    realm,
    onEvent,
  };
}

/**
 * Validates `consumerHeaders` (`{ id?, scopes?, type? }`): HTTP header names,
 * lower-cased, three different ones; the defaults for what is not given.
 *
 * @example
 * resolveConsumerHeaders({ id: 'X-User' }, 'auth.consumerHeaders');
 * // { id: 'x-user', scopes: 'x-consumer-scopes', type: 'x-consumer-type' }
 */
export function resolveConsumerHeaders(value: unknown, field: string): ConsumerHeaderNames {
  if (value === undefined) return DEFAULT_CONSUMER_HEADERS;
  const ch = expectObject(value, field);
  rejectUnknownKeys(ch, ['id', 'scopes', 'type'], field);
  const name = (key: 'id' | 'scopes' | 'type'): string =>
    ch[key] === undefined
      ? DEFAULT_CONSUMER_HEADERS[key]
      : expectHeaderName(ch[key], `${field}.${key}`);
  const names: ConsumerHeaderNames = Object.freeze({
    id: name('id'),
    scopes: name('scopes'),
    type: name('type'),
  });
  if (names.id === names.scopes || names.id === names.type || names.scopes === names.type) {
    throw new GatewayConfigError(field, 'id, scopes and type must be three different header names');
  }
  return names;
}

/** Scopes: RFC 6749 scope-tokens (printable ASCII without space, `"` or `\\`). */
export function expectScopes(value: unknown, field: string): string[] {
  const scopes = expectStringArray(value, field);
  scopes.forEach((scope, i) => {
    if (!SCOPE_TOKEN.test(scope)) {
      throw new GatewayConfigError(
        `${field}[${i}]`,
        "must be printable ASCII without spaces, '\"' or '\\' (e.g. 'orders:read')",
      );
    }
  });
  return scopes;
}

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const TOKEN_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** An HTTP field name (RFC 9110 token), returned lower-case. */
export function expectHeaderName(value: unknown, field: string): string {
  const name = expectString(value, field);
  if (!TOKEN_CHARS.test(name)) {
    throw new GatewayConfigError(field, `must be a valid HTTP header name (e.g. 'x-api-key')`);
  }
  return name.toLowerCase();
}

/** A realm that fits in a quoted-string without escaping: printable ASCII except `"` and `\`. */
export function expectRealm(value: unknown, field: string): string {
  const realm = expectString(value, field);
  if (!/^[\x20-\x7e]+$/.test(realm) || realm.includes('"') || realm.includes('\\')) {
    throw new GatewayConfigError(
      field,
      "must be printable ASCII without '\"' or '\\' (e.g. 'api')",
    );
  }
  return realm;
}

/** An optional plain-object `metadata`, deep-copied and frozen so requests cannot alter the config. */
export function copyMetadata(value: unknown, field: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  const object = expectObject(value, field);
  let copy: Record<string, unknown>;
  try {
    copy = structuredClone(object);
  } catch {
    throw new GatewayConfigError(field, 'must be cloneable data (no functions)');
  }
  return deepFreeze(copy);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
