import type { ResolvedAuthOptions, ResolvedBasicUser } from '../schema/auth.js';
import type { GatewayRequest, Principal } from '../types.js';
import { type AuthFailure, INVALID_CREDENTIALS, VERIFIER_ERROR } from './outcome.js';
import { dummyPasswordHash, verifyPassword } from './password-hash.js';
import { grantedPrincipal, normalizePrincipal } from './principal.js';
import { isThenable } from './thenable.js';

/** The Basic strategy, built once. */
export interface BasicStrategy {
  readonly realm: string;
  /** Verifies the token68 after `Basic `. */
  verify(credentials: string, req: GatewayRequest): Promise<Principal | AuthFailure>;
}

/**
 * Builds the strategy from parsed `basic` options (see `parseAuthOptions`).
 *
 * @example
 * const strategy = createBasicStrategy(parseAuthOptions({ basic: { users } }).value.basic!);
 */
export function createBasicStrategy(
  options: NonNullable<ResolvedAuthOptions['basic']>,
): BasicStrategy {
  const { realm } = options;
  if (typeof options.users === 'function') {
    const verifier = options.users;
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
  const users = new Map<string, ResolvedBasicUser>();
  for (const user of options.users) users.set(user.username, user);
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
      return grantedPrincipal(username, 'basic', entry);
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
