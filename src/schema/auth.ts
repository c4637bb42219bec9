import { createPublicKey, type KeyObject } from 'node:crypto';
import * as z from 'zod';
import { type ConsumerHeaderNames, DEFAULT_CONSUMER_HEADERS } from '../auth/consumer-headers.js';
import { digestApiKey } from '../auth/hash-api-key.js';
import type { JwksTiming } from '../auth/jwks.js';
import { type PasswordHash, parsePasswordHash } from '../auth/password-hash.js';
import type { GatewayEventListener, GatewayRequest, Principal } from '../types.js';
import {
  bool,
  frozenData,
  headerName,
  nonEmptyString,
  realmName,
  scopeList,
  secret,
  stringOrList,
} from './common.js';
import { duration, MAX_TIMER_MS } from './duration.js';
import { codeOnly, withMeta } from './meta.js';
import { fail, type Parsed, parseOptions, STANDALONE, warn } from './parse.js';
import type { ExactlyOne } from './types.js';

// ---------------------------------------------------------------------------------------------
// Functions only code can give

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

// ---------------------------------------------------------------------------------------------
// consumerHeaders

/**
 * `consumerHeaders` of `authenticate()` and `route()`: three different header names, each
 * defaulting to its `x-consumer-*` name.
 *
 * @example
 * consumerHeaderOptions.parse({ id: 'X-User' }); // { id: 'x-user', scopes: 'x-consumer-scopes', type: 'x-consumer-type' }
 */
export const consumerHeaderOptions = z
  .strictObject({
    /** Default `x-consumer-id`. */
    id: headerName().optional(),
    /** Default `x-consumer-scopes`. */
    scopes: headerName().optional(),
    /** Default `x-consumer-type`. */
    type: headerName().optional(),
  })
  .transform((names, ctx): ConsumerHeaderNames => {
    const resolved = Object.freeze({
      id: names.id ?? DEFAULT_CONSUMER_HEADERS.id,
      scopes: names.scopes ?? DEFAULT_CONSUMER_HEADERS.scopes,
      type: names.type ?? DEFAULT_CONSUMER_HEADERS.type,
    });
    if (
      resolved.id === resolved.scopes ||
      resolved.id === resolved.type ||
      resolved.scopes === resolved.type
    ) {
      fail(ctx, 'id, scopes and type must be three different header names');
      return z.NEVER;
    }
    return resolved;
  });

/**
 * Renames the headers the upstream receives the principal under (`authenticate()`,
 * `createGateway({ auth })`), or names those a `route()` without authentication strips.
 * Each defaults to its `x-consumer-*` name.
 *
 * @example
 * const names: ConsumerHeaderOptions = { id: 'X-User', scopes: 'X-User-Scopes', type: 'X-User-Kind' };
 */
export type ConsumerHeaderOptions = z.input<typeof consumerHeaderOptions>;

// ---------------------------------------------------------------------------------------------
// What a configured consumer (an API key, a Basic user) is granted

/**
 * What a configured consumer (an API key, a Basic user) is granted, as the strategy keeps it.
 * Defaults: `scopes: []`, no plan, no metadata.
 *
 * @example
 * const grant: ResolvedGrant = { scopes: ['read'], plan: 'pro', metadata: undefined };
 */
export interface ResolvedGrant {
  readonly scopes: readonly string[];
  readonly plan: string | undefined;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
}

/** The fields of an API key entry and of a Basic user that say what the consumer is granted. */
const grantShape = {
  /** Scopes granted to the consumer. Default `[]`. */
  scopes: scopeList().optional(),
  /** Rate limit plan (see `rateLimit({ plans })`). */
  plan: nonEmptyString().optional(),
  /** Anything else, copied to `principal.metadata`. */
  metadata: frozenData().optional(),
};

function resolveGrant(entry: z.output<z.ZodObject<typeof grantShape>>): ResolvedGrant {
  return { scopes: Object.freeze(entry.scopes ?? []), plan: entry.plan, metadata: entry.metadata };
}

// ---------------------------------------------------------------------------------------------
// apiKey

const QUERY_NAME = /^[A-Za-z0-9._~-]+$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const HASH_HEX_MESSAGE =
  'must be a SHA-256 digest as 64 hex characters, as made by hashApiKey(key)';

/** One configured key as the strategy keeps it: its digest, never the key. */
export interface ResolvedApiKey extends ResolvedGrant {
  readonly digest: Buffer;
  readonly id: string;
}

const apiKeyEntry = withMeta(
  z
    .strictObject({
      /** Consumer id: becomes `principal.id` and `X-Consumer-Id`. Unique in the list. */
      id: nonEmptyString(),
      /** The key itself (prefer `hash`: the plain key then never needs to be in your config). */
      key: withMeta(secret(nonEmptyString()), { code: 'ERR_CONFIG_INVALID_KEY' }).optional(),
      /** `hashApiKey(key)`: the SHA-256 digest of the key, 64 hex characters. */
      hash: withMeta(
        secret(
          z.string({ error: HASH_HEX_MESSAGE }).regex(SHA256_HEX, { error: HASH_HEX_MESSAGE }),
        ),
        { code: 'ERR_CONFIG_INVALID_KEY' },
      ).optional(),
      ...grantShape,
    })
    .transform((entry, ctx): ResolvedApiKey => {
      if (entry.key !== undefined && entry.hash !== undefined) {
        fail(ctx, 'give either key or hash, not both', { code: 'ERR_CONFIG_INVALID_KEY' });
        return z.NEVER;
      }
      if (entry.key === undefined && entry.hash === undefined) {
        // `key: process.env.ALICE_KEY` with the variable unset: say so, on the field itself.
        if (Object.hasOwn(entry, 'key') || Object.hasOwn(entry, 'hash')) {
          fail(ctx, 'needs key or hash (hashApiKey(key))', {
            path: [Object.hasOwn(entry, 'key') ? 'key' : 'hash'],
            code: 'ERR_CONFIG_INVALID_KEY',
          });
        } else {
          fail(ctx, 'needs key or hash (hashApiKey(key))', { code: 'ERR_CONFIG_INVALID_KEY' });
        }
        return z.NEVER;
      }
      return {
        digest:
          entry.key !== undefined
            ? digestApiKey(entry.key)
            : Buffer.from(entry.hash as string, 'hex'),
        id: entry.id,
        ...resolveGrant(entry),
      };
    }),
  { code: 'ERR_CONFIG_INVALID_OPTION' },
);

const KEYS_MESSAGE =
  'must be an array of { id, key | hash } or a function (key, req) => principal | null';

const apiKeyOptions = z.strictObject({
  /** Request header carrying the key. Default `'x-api-key'`. */
  header: headerName().default('x-api-key'),
  /** Query parameter carrying the key; off by default. Removed from the forwarded query string. */
  query: nonEmptyString()
    .regex(QUERY_NAME, { error: "must use only letters, digits and '-._~' (e.g. 'api_key')" })
    .optional(),
  /** The keys, or a function that looks a presented key up. */
  keys: withMeta(
    z.union(
      [
        z.array(apiKeyEntry).check((ctx) => {
          // Entries with problems of their own were not resolved: compare the others only then.
          if (ctx.issues.length > 0) return;
          const ids = new Set<string>();
          const digests = new Set<string>();
          ctx.value.forEach((entry, i) => {
            if (ids.has(entry.id)) {
              fail(ctx, `duplicates the id '${entry.id}' of an earlier key`, {
                path: [i, 'id'],
                code: 'ERR_CONFIG_INVALID_KEY',
              });
            }
            ids.add(entry.id);
            const digest = entry.digest.toString('latin1');
            // The message names the entry, never the key.
            if (digests.has(digest)) {
              fail(ctx, 'duplicates the key of an earlier entry', {
                path: [i],
                code: 'ERR_CONFIG_INVALID_KEY',
              });
            }
            digests.add(digest);
          });
        }),
        codeOnly<ApiKeyVerifier>(),
      ],
      { error: KEYS_MESSAGE },
    ),
    { code: 'ERR_CONFIG_INVALID_KEY' },
  ),
});

/**
 * One API key: a consumer id and either the key itself or its `hashApiKey()`
 * digest (preferred: the plain key then never needs to be in your config).
 * Defaults: `scopes: []`, no plan, no metadata.
 *
 * @example
 * { id: 'billing-svc', hash: hashApiKey(process.env.BILLING_KEY!), scopes: ['orders:read'], plan: 'pro' }
 */
export type ApiKeyEntry = ExactlyOne<z.input<typeof apiKeyEntry>, 'key' | 'hash'>;

/**
 * API keys (`X-Api-Key` by default).
 *
 * @example
 * { header: 'x-api-key', keys: [{ id: 'alice', hash: hashApiKey('k-123'), scopes: ['read'] }] }
 */
export type ApiKeyOptions = Omit<z.input<typeof apiKeyOptions>, 'keys'> & {
  /** The keys, or a function that looks a presented key up. */
  keys: readonly ApiKeyEntry[] | ApiKeyVerifier;
};

// ---------------------------------------------------------------------------------------------
// jwt

const HMAC = ['HS256', 'HS384', 'HS512'] as const;
const ASYMMETRIC = [
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
] as const;
const ALGORITHMS = [...HMAC, ...ASYMMETRIC] as const;

/**
 * JWS algorithms accepted in `jwt.algorithms` (`none` never is). No default:
 * the allow-list is required.
 *
 * @example
 * const algorithms: JwtAlgorithm[] = ['RS256', 'PS256'];
 */
export type JwtAlgorithm = (typeof ALGORITHMS)[number];

/** Minimum HMAC secret length in bytes (RFC 7518 §3.2 asks for at least the hash size; 32 covers HS256). */
const MIN_SECRET_BYTES = 32;
const EC_CURVES: Partial<Record<JwtAlgorithm, string>> = {
  ES256: 'prime256v1',
  ES384: 'secp384r1',
  ES512: 'secp521r1',
};

const jwtAlgorithm = z.enum(ALGORITHMS, {
  error: (issue) => {
    const alg = issue.input;
    if (typeof alg !== 'string') return 'must be an algorithm name such as RS256';
    if (alg.trim().toLowerCase() === 'none') return "'none' (unsigned tokens) is never accepted";
    const hint = ALGORITHMS.find((a) => a.toLowerCase() === alg.toLowerCase());
    return hint
      ? `unknown algorithm '${alg}' (did you mean '${hint}'?)`
      : `unknown algorithm '${alg}' (supported: ${ALGORITHMS.join(', ')})`;
  },
});

const jwksUri = nonEmptyString().check((ctx) => {
  let url: URL;
  try {
    url = new URL(ctx.value);
  } catch {
    fail(
      ctx,
      "must be an absolute http(s) URL (e.g. 'https://idp.example.com/.well-known/jwks.json')",
    );
    return;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    fail(ctx, 'must be an http(s) URL');
  } else if (url.username || url.password) {
    fail(ctx, 'must not contain credentials');
  } else if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    warn(ctx, 'fetches keys over plain http; anyone on the path could substitute them (use https)');
  }
});

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname.startsWith('127.');
}

/** Where a JWT strategy's keys come from, resolved. */
export type ResolvedJwtKey =
  | { kind: 'secret'; bytes: Uint8Array }
  | { kind: 'publicKey'; key: KeyObject }
  | { kind: 'jwks'; uri: string; timing: JwksTiming };

/** `jwt` options resolved: one key source, the verification options jose takes. */
export interface ResolvedJwtOptions {
  readonly algorithms: readonly JwtAlgorithm[];
  readonly key: ResolvedJwtKey;
  readonly issuer: string | readonly string[] | undefined;
  readonly audience: string | readonly string[] | undefined;
  /** Seconds, as jose takes it; `undefined` when not given. */
  readonly clockToleranceSec: number | undefined;
  /** Always holds `sub`. */
  readonly requiredClaims: readonly string[];
  readonly scopeClaim: string | undefined;
}

const JWKS_ONLY = ['jwksCooldown', 'jwksTimeout', 'jwksMaxAge'] as const;

const jwtOptions = z
  .strictObject({
    /** Required allow-list, e.g. `['RS256']`. All from the key source's family. */
    algorithms: z
      .array(jwtAlgorithm, {
        error: (issue) =>
          issue.input === undefined
            ? "is required: a non-empty allow-list such as ['RS256']"
            : "must be a non-empty allow-list such as ['RS256']",
      })
      .min(1, { error: "is required: a non-empty allow-list such as ['RS256']" })
      .readonly(),
    /** HS* shared secret, at least 32 bytes. */
    secret: withMeta(secret(nonEmptyString()), { code: 'ERR_CONFIG_INVALID_KEY' }).optional(),
    /** PEM public key or certificate (RS*, PS*, ES*, EdDSA). */
    publicKey: withMeta(nonEmptyString(), { code: 'ERR_CONFIG_INVALID_KEY' }).optional(),
    /** Remote JWKS: cached, refreshed on an unknown `kid` with a cooldown. */
    jwksUri: jwksUri.optional(),
    /** Accepted `iss` value(s). Default: not checked. */
    issuer: stringOrList().readonly().optional(),
    /** Accepted `aud` value(s). Default: not checked. */
    audience: stringOrList().readonly().optional(),
    /** Leeway for `exp`/`nbf`, e.g. `'30s'`. Default `0`. */
    clockTolerance: duration({ allowZero: true }).optional(),
    /** Claims that must be present. Default `[]` (`sub` is always required). */
    requiredClaims: z.array(nonEmptyString()).readonly().optional(),
    /** Claim holding the scopes. Default: `scope` (space-separated), else `scp` (array). */
    scopeClaim: nonEmptyString().optional(),
    /** JWKS only: least time between two fetches (unknown `kid`s wait for it). Default `'30s'`. */
    jwksCooldown: duration().optional(),
    /** JWKS only: a fetch that takes longer fails. Default `'5s'`. */
    jwksTimeout: duration({ maxMs: MAX_TIMER_MS, maxText: '24 days' }).optional(),
    /** JWKS only: keys older than this are refreshed in the background. Default `'10m'`. */
    jwksMaxAge: duration().optional(),
  })
  .transform((options, ctx): ResolvedJwtOptions | typeof z.NEVER => {
    const algorithms = [...new Set(options.algorithms)];
    const sources = (['secret', 'publicKey', 'jwksUri'] as const).filter(
      (k) => options[k] !== undefined,
    );
    if (sources.length !== 1) {
      fail(
        ctx,
        `needs exactly one key source: secret (HS*), publicKey (PEM) or jwksUri${sources.length ? ` (got ${sources.join(' and ')})` : ''}`,
      );
      return z.NEVER;
    }
    const symmetric = options.secret !== undefined;
    const family: readonly string[] = symmetric ? HMAC : ASYMMETRIC;
    const foreign = algorithms.filter((a) => !family.includes(a));
    if (foreign.length) {
      fail(
        ctx,
        symmetric
          ? `${foreign.join(', ')} cannot be verified with a shared secret; with secret use HS256, HS384 or HS512`
          : `${foreign.join(', ')} needs a shared secret; with ${sources[0]} use asymmetric algorithms such as RS256 or ES256`,
        { path: ['algorithms'] },
      );
      return z.NEVER;
    }
    if (options.jwksUri === undefined) {
      for (const k of JWKS_ONLY) {
        if (options[k] !== undefined) {
          fail(ctx, 'only applies with jwksUri', { path: [k] });
          return z.NEVER;
        }
      }
    }
    let key: ResolvedJwtKey;
    if (options.secret !== undefined) {
      const bytes = Buffer.from(options.secret, 'utf8');
      if (bytes.length < MIN_SECRET_BYTES) {
        fail(
          ctx,
          `must be at least ${MIN_SECRET_BYTES} bytes long (e.g. crypto.randomBytes(32).toString('base64url'))`,
          { path: ['secret'], code: 'ERR_CONFIG_INVALID_KEY' },
        );
        return z.NEVER;
      }
      key = { kind: 'secret', bytes: new Uint8Array(bytes) };
    } else if (options.publicKey !== undefined) {
      const resolved = resolvePublicKey(options.publicKey, algorithms);
      if (typeof resolved === 'object' && 'problem' in resolved) {
        fail(ctx, resolved.problem, { path: [resolved.field], code: 'ERR_CONFIG_INVALID_KEY' });
        return z.NEVER;
      }
      key = { kind: 'publicKey', key: resolved };
    } else {
      key = {
        kind: 'jwks',
        uri: new URL(options.jwksUri as string).href,
        timing: {
          cooldownMs: options.jwksCooldown ?? 30_000,
          timeoutMs: options.jwksTimeout ?? 5_000,
          maxAgeMs: options.jwksMaxAge ?? 600_000,
        },
      };
    }
    return {
      algorithms: Object.freeze(algorithms),
      key,
      issuer: options.issuer,
      audience: options.audience,
      clockToleranceSec:
        options.clockTolerance === undefined ? undefined : options.clockTolerance / 1000,
      requiredClaims: Object.freeze([...new Set(['sub', ...(options.requiredClaims ?? [])])]),
      scopeClaim: options.scopeClaim,
    };
  });

function resolvePublicKey(
  pem: string,
  algorithms: readonly JwtAlgorithm[],
): KeyObject | { problem: string; field: 'publicKey' | 'algorithms' } {
  if (pem.includes('PRIVATE KEY')) {
    return {
      problem: 'is a private key; configure the public key (SPKI PEM) only',
      field: 'publicKey',
    };
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    return {
      problem: "must be a PEM public key ('-----BEGIN PUBLIC KEY-----…') or certificate",
      field: 'publicKey',
    };
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
      return {
        problem: `${alg} does not fit the configured public key (a ${type}${details.namedCurve ? ` ${details.namedCurve}` : ''} key)`,
        field: 'algorithms',
      };
    }
  }
  if ((type === 'rsa' || type === 'rsa-pss') && (details.modulusLength ?? 0) < 2048) {
    return { problem: 'RSA keys must be at least 2048 bits', field: 'publicKey' };
  }
  return key;
}

/**
 * Exactly one key source: a shared secret (HS*), a PEM public key, or a
 * remote JWKS. No default.
 *
 * @example
 * { jwksUri: 'https://idp.example.com/.well-known/jwks.json' }
 */
export type JwtKeySource = ExactlyOne<
  Pick<z.input<typeof jwtOptions>, 'secret' | 'publicKey' | 'jwksUri'>,
  'secret' | 'publicKey' | 'jwksUri'
>;

/**
 * Bearer JWTs, verified with `jose`. `algorithms` is required; `clockTolerance`
 * default `0`; JWKS timing defaults `jwksCooldown` `'30s'`, `jwksTimeout` `'5s'`,
 * `jwksMaxAge` `'10m'`.
 *
 * @example
 * { algorithms: ['RS256'], jwksUri: 'https://idp.example.com/.well-known/jwks.json',
 *   issuer: 'https://idp.example.com/', audience: 'orders-api' }
 */
export type JwtOptions = ExactlyOne<z.input<typeof jwtOptions>, 'secret' | 'publicKey' | 'jwksUri'>;

// ---------------------------------------------------------------------------------------------
// basic

/** A Basic user as the strategy keeps it. */
export interface ResolvedBasicUser extends ResolvedGrant {
  readonly username: string;
  readonly hash: PasswordHash;
}

const HASH_MESSAGE = "must be a hash made by hashPassword(password): 'scrypt$N$r$p$salt$hash'";

const basicUser = z
  .strictObject({
    username: nonEmptyString().regex(/^[^:]*$/, { error: "must not contain ':' (RFC 7617)" }),
    /** From `hashPassword(password)`. */
    passwordHash: withMeta(
      secret(nonEmptyString(HASH_MESSAGE)).transform((value, ctx) => {
        const hash = parsePasswordHash(value);
        if (hash === undefined) {
          fail(ctx, HASH_MESSAGE);
          return z.NEVER;
        }
        return hash;
      }),
      { code: 'ERR_CONFIG_INVALID_KEY' },
    ),
    ...grantShape,
  })
  .transform(
    (user): ResolvedBasicUser => ({
      username: user.username,
      hash: user.passwordHash,
      ...resolveGrant(user),
    }),
  );

const basicOptions = z.strictObject({
  users: z.union(
    [
      z.array(basicUser).check((ctx) => {
        if (ctx.issues.length > 0) return;
        const seen = new Set<string>();
        ctx.value.forEach((user, i) => {
          if (seen.has(user.username)) {
            fail(ctx, `duplicates the user '${user.username}'`, { path: [i, 'username'] });
          }
          seen.add(user.username);
        });
      }),
      codeOnly<BasicVerifier>(),
    ],
    {
      error:
        'must be an array of { username, passwordHash } (hashPassword(password)) or a function (username, password, req) => principal | null',
    },
  ),
  /** Realm in the `WWW-Authenticate: Basic` challenge. Default: the top-level `realm`. */
  realm: realmName().optional(),
});

/**
 * A Basic user; `passwordHash` comes from `hashPassword()`. Default `scopes: []`.
 *
 * @example
 * { username: 'ops', passwordHash: hashPassword('correct horse battery staple'), scopes: ['admin'] }
 */
export type BasicUser = z.input<typeof basicUser>;

/**
 * HTTP Basic (RFC 7617).
 *
 * @example
 * { users: [{ username: 'ops', passwordHash: hashPassword('s3cret-pass') }], realm: 'admin' }
 */
export type BasicOptions = Omit<z.input<typeof basicOptions>, 'users'> & {
  users: readonly BasicUser[] | BasicVerifier;
};

// ---------------------------------------------------------------------------------------------
// authenticate()

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
 * Authentication options resolved: the strategies' own (keys hashed, PEMs
 * parsed, users' hashes parsed) and what they share. What `createAuthenticator`
 * compiles.
 *
 * @example
 * const resolved: ResolvedAuthOptions = parseAuthOptions({ verify }).value;
 */
export interface ResolvedAuthOptions {
  readonly apiKey:
    | {
        readonly header: string;
        readonly query: string | undefined;
        readonly keys: readonly ResolvedApiKey[] | ApiKeyVerifier;
      }
    | undefined;
  readonly jwt: ResolvedJwtOptions | undefined;
  readonly basic:
    | { readonly realm: string; readonly users: readonly ResolvedBasicUser[] | BasicVerifier }
    | undefined;
  readonly verify: CustomVerifier | undefined;
  readonly requirement: AuthRequirement;
  readonly forwardCredentials: boolean;
  readonly consumerHeaders: ConsumerHeaderNames;
  readonly realm: string;
  readonly onEvent: GatewayEventListener | undefined;
}

const authShape = {
  apiKey: apiKeyOptions.optional(),
  jwt: jwtOptions.optional(),
  basic: basicOptions.optional(),
  verify: codeOnly<CustomVerifier>().optional(),
  /** Default `false`. `true`: a request without credentials passes as the anonymous principal. */
  optional: bool().default(false),
  /** Scopes that are all required, else 403. Default `[]`. */
  scopes: scopeList().readonly().default([]),
  /** Default `false`: the credential is removed before the request is forwarded. */
  forwardCredentials: bool().default(false),
  /**
   * Header names the upstream receives the principal under. Default `x-consumer-id`,
   * `x-consumer-scopes` and `x-consumer-type` (the principal's kind: `apiKey`, `jwt`,
   * `basic` or `custom`). Client-sent copies of these names are always removed.
   */
  consumerHeaders: consumerHeaderOptions.optional(),
  /** Realm of the `WWW-Authenticate` challenges. Default `'api'`. */
  realm: realmName().default('api'),
};

type AuthShapeOutput = z.output<z.ZodObject<typeof authShape>> & {
  onEvent?: GatewayEventListener | undefined;
};

function resolveAuth(
  options: AuthShapeOutput,
  ctx: z.core.$RefinementCtx<unknown>,
): ResolvedAuthOptions | typeof z.NEVER {
  if (
    options.apiKey === undefined &&
    options.jwt === undefined &&
    options.basic === undefined &&
    options.verify === undefined
  ) {
    fail(
      ctx,
      "needs at least one strategy: apiKey, jwt, basic or verify (e.g. { apiKey: { keys: [{ id: 'alice', key: '…' }] } })",
    );
    return z.NEVER;
  }
  const names = options.consumerHeaders ?? DEFAULT_CONSUMER_HEADERS;
  const header = options.apiKey?.header;
  if (
    header !== undefined &&
    [names.id, names.scopes, names.type, 'authorization', 'host', 'x-request-id'].includes(header)
  ) {
    fail(ctx, `'${header}' is reserved; use a header of its own such as 'x-api-key'`, {
      path: ['apiKey', 'header'],
    });
    return z.NEVER;
  }
  const apiKey = options.apiKey;
  return {
    apiKey:
      apiKey === undefined
        ? undefined
        : { header: apiKey.header, query: apiKey.query, keys: apiKey.keys },
    jwt: options.jwt,
    basic:
      options.basic === undefined
        ? undefined
        : { realm: options.basic.realm ?? options.realm, users: options.basic.users },
    verify: options.verify,
    requirement: Object.freeze({
      optional: options.optional,
      scopes: Object.freeze(options.scopes),
    }),
    forwardCredentials: options.forwardCredentials,
    consumerHeaders: names,
    realm: options.realm,
    onEvent: options.onEvent,
  };
}

/**
 * The options of standalone `authenticate()`, with its `onEvent`.
 *
 * @example
 * parseAuthOptions({ apiKey: { keys } }).value.apiKey?.header; // 'x-api-key'
 */
export const authOptions = z
  .strictObject({
    ...authShape,
    /** Standalone `authenticate()` only: `auth.*` events, and `request.completed` for the requests it answers (`createGateway` has its own). */
    onEvent: codeOnly<GatewayEventListener>().optional(),
  })
  .transform(resolveAuth);

/**
 * `createGateway({ auth })`: the same options without `onEvent` (the gateway has its own).
 *
 * @example
 * gatewayAuthOptions.parse({ verify });
 */
export const gatewayAuthOptions = withMeta(z.strictObject(authShape), {
  refusedKeys: {
    onEvent: 'is for standalone authenticate(); pass onEvent to createGateway instead',
  },
}).transform(resolveAuth);

/**
 * Options of `authenticate()` and `createGateway({ auth })`. At least one
 * strategy (`apiKey`, `jwt`, `basic`, `verify`) is required. Defaults:
 * `optional: false`, `scopes: []`, `forwardCredentials: false`, `realm: 'api'`.
 *
 * @example
 * authenticate({ apiKey: { keys: [{ id: 'alice', key: process.env.ALICE_KEY! }] }, scopes: ['read'] })
 */
export type AuthOptions = Omit<z.input<typeof authOptions>, 'apiKey' | 'jwt' | 'basic'> & {
  apiKey?: ApiKeyOptions;
  jwt?: JwtOptions;
  basic?: BasicOptions;
};

/**
 * Parses standalone `authenticate()` options: resolved options and warnings, or
 * `GatewayConfigError` (paths without a prefix: `apiKey.keys[0]`).
 *
 * @example
 * const { value, warnings } = parseAuthOptions({ jwt: { algorithms: ['RS256'], jwksUri } });
 */
export function parseAuthOptions(input: unknown): Parsed<ResolvedAuthOptions> {
  return parseOptions(authOptions, input, STANDALONE);
}
