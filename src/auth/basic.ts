import { GatewayConfigError } from '../errors.js';
import {
  expectFunction,
  expectObject,
  expectString,
  fieldPath,
  rejectUnknownKeys,
} from '../options.js';
import type { GatewayRequest, Principal } from '../types.js';
import type { BasicVerifier } from './options.js';
import { copyMetadata, expectRealm, expectScopes } from './options.js';
import { type AuthFailure, INVALID_CREDENTIALS, VERIFIER_ERROR } from './outcome.js';
import {
  dummyPasswordHash,
  type PasswordHash,
  parsePasswordHash,
  verifyPassword,
} from './password-hash.js';
import { normalizePrincipal } from './principal.js';
import { isThenable } from './thenable.js';

interface BasicEntry {
  hash: PasswordHash;
  scopes: readonly string[];
  plan: string | undefined;
  metadata: Readonly<Record<string, unknown>> | undefined;
}

/** The Basic strategy, built once. */
export interface BasicStrategy {
  readonly realm: string;
  /** Verifies the token68 after `Basic `. */
  verify(credentials: string, req: GatewayRequest): Promise<Principal | AuthFailure>;
}

/** Validates `basic` options and builds the strategy. */
export function createBasicStrategy(
  value: unknown,
  field: string,
  defaultRealm: string,
): BasicStrategy {
  const raw = expectObject(value, field);
  rejectUnknownKeys(raw, ['users', 'realm'], field);
  const realm =
    raw.realm === undefined ? defaultRealm : expectRealm(raw.realm, fieldPath(field, 'realm'));
  const usersField = fieldPath(field, 'users');
  if (typeof raw.users === 'function') {
    const verifier = expectFunction<BasicVerifier>(raw.users, usersField);
    return {
      realm,
      async verify(credentials, req) {
        const pair = decodeCredentials(credentials);
        if (pair === undefined) return INVALID_CREDENTIALS;
        let result: unknown;
        try {
          const returned = verifier(pair[0], pair[1], req);
          result = isThenable(returned) ? await returned : returned;
        } catch {
          return VERIFIER_ERROR;
        }
        if (result === null || result === undefined) return INVALID_CREDENTIALS;
        return normalizePrincipal(result, 'basic') ?? VERIFIER_ERROR;
      },
    };
  }
  if (!Array.isArray(raw.users)) {
    throw new GatewayConfigError(
      usersField,
      'must be an array of { username, passwordHash } (hashPassword(password)) or a function (username, password, req) => principal | null',
    );
  }
  const users = new Map<string, BasicEntry>();
  raw.users.forEach((item: unknown, i) => {
    const at = `${usersField}[${i}]`;
    const user = expectObject(item, at);
    rejectUnknownKeys(user, ['username', 'passwordHash', 'scopes', 'plan', 'metadata'], at);
    const username = expectString(user.username, `${at}.username`);
    if (username.includes(':')) {
      throw new GatewayConfigError(`${at}.username`, "must not contain ':' (RFC 7617)");
    }
    if (users.has(username)) {
      throw new GatewayConfigError(`${at}.username`, `duplicates the user '${username}'`);
    }
    const hash = parsePasswordHash(expectString(user.passwordHash, `${at}.passwordHash`));
    if (hash === undefined) {
      throw new GatewayConfigError(
        `${at}.passwordHash`,
        "must be a hash made by hashPassword(password): 'scrypt$N$r$p$salt$hash'",
        'ERR_CONFIG_INVALID_KEY',
      );
    }
    users.set(username, {
      hash,
      scopes: Object.freeze(
        user.scopes === undefined ? [] : expectScopes(user.scopes, `${at}.scopes`),
      ),
      plan: user.plan === undefined ? undefined : expectString(user.plan, `${at}.plan`),
      metadata: copyMetadata(user.metadata, `${at}.metadata`),
    });
  });
  // Unknown users are checked against this hash so they cost as much as a wrong password.
  const dummy = dummyPasswordHash();
  return {
    realm,
    async verify(credentials) {
      const pair = decodeCredentials(credentials);
      if (pair === undefined) return INVALID_CREDENTIALS;
      const [username, password] = pair;
      const entry = users.get(username);
      let ok: boolean;
      try {
        ok = await verifyPassword(password, entry === undefined ? dummy : entry.hash);
      } catch {
        return VERIFIER_ERROR;
      }
      if (!ok || entry === undefined) return INVALID_CREDENTIALS;
      const principal: Principal = { id: username, type: 'basic', scopes: entry.scopes.slice() };
      if (entry.plan !== undefined) principal.plan = entry.plan;
      if (entry.metadata !== undefined) principal.metadata = entry.metadata;
      return principal;
    },
  };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** `user:password` from the base64 token68, as UTF-8; `undefined` when malformed. */
function decodeCredentials(token: string): [string, string] | undefined {
  if (token.length === 0 || token.length > 8192 || token.length % 4 !== 0 || !BASE64.test(token)) {
    return undefined;
  }
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return [decoded.slice(0, colon), decoded.slice(colon + 1)];
}
