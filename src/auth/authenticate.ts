import { createEmitter } from '../events.js';
import { stepMiddleware } from '../pipeline.js';
import { sendProblem } from '../problem.js';
import { type AuthOptions, parseAuthOptions } from '../schema/auth.js';
import type { GatewayMiddleware } from '../types.js';
import { createAuthenticator } from './authenticator.js';

/**
 * Authentication middleware: API keys, Bearer JWTs, Basic and a
 * custom `verify`, tried in that order; the first strategy whose credentials
 * are present decides. Sets `req.gateway.principal`, answers 401/403 as
 * problem+json with `WWW-Authenticate`, strips the credential and sets
 * `X-Consumer-Id` / `X-Consumer-Scopes` / `X-Consumer-Type` for the upstream. Defaults:
 * `optional: false`, `scopes: []`, `forwardCredentials: false`.
 *
 * @example
 * app.use(authenticate({
 *   apiKey: { keys: [{ id: 'alice', hash: hashApiKey(process.env.ALICE_KEY!), scopes: ['read'] }] },
 *   jwt: { algorithms: ['RS256'], jwksUri: 'https://idp.example.com/.well-known/jwks.json' },
 *   scopes: ['read'],
 * }));
 */
export function authenticate(options: AuthOptions): GatewayMiddleware {
  const { value, warnings } = parseAuthOptions(options);
  const emit = createEmitter(value.onEvent);
  for (const warning of warnings) emit({ type: 'config.warning', ...warning });
  const authenticator = createAuthenticator(value, { emit, sendProblem });
  const step = authenticator.step(authenticator.defaultRequirement);
  return stepMiddleware('authenticate', step, () => authenticator.close(), emit);
}
