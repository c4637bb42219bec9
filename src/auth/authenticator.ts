import type { ServerResponse } from 'node:http';
import { isListening } from '../events.js';
import type { InternalContext, Step } from '../pipeline.js';
import { gatewayContext } from '../request-id.js';
import { copyHeadersExcept } from '../route/hop-by-hop.js';
import type { AuthRequirement, CustomVerifier, ResolvedAuthOptions } from '../schema/auth.js';
import type { GatewayContext, GatewayRequest, Principal, PrincipalType } from '../types.js';
import { type ApiKeyResult, type ApiKeyStrategy, createApiKeyStrategy } from './api-key.js';
import { type BasicStrategy, createBasicStrategy } from './basic.js';
import { Challenges } from './challenge.js';
import { type ConsumerHeaderNames, setConsumerHeaders } from './consumer-headers.js';
import { AMBIGUOUS, findQueryParam, removeQueryParam } from './credential-query.js';
import type { JwksCacheSource } from './jwks.js';
import { createJwtStrategy, type JwtStrategy, loadJose } from './jwt.js';
import {
  AuthFailure,
  INVALID_CREDENTIALS,
  INVALID_KEY,
  INVALID_TOKEN,
  MISSING_CREDENTIALS,
  VERIFIER_ERROR,
} from './outcome.js';
import { anonymousPrincipal, hasScopes, normalizePrincipal } from './principal.js';
import { isThenable } from './thenable.js';

export type { AuthRequirement } from '../schema/auth.js';

/**
 * Authentication compiled once from parsed options; `createGateway`
 * builds one and asks it for a Step per route.
 *
 * @example
 * const auth = createAuthenticator(parseAuthOptions({ apiKey: { keys } }).value, { emit, sendProblem });
 * const step = auth.step({ optional: false, scopes: ['orders:read'] }, 'orders');
 */
export interface Authenticator {
  /**
   * Built once per route at startup. The Step sets `req.gateway.principal`,
   * strips credentials (unless `forwardCredentials`), replaces client-sent
   * consumer headers by the principal's, emits `auth.*` events and answers
   * 401/403/500 via `ctx.sendProblem`. Synchronous for listed API keys.
   */
  step(requirement: AuthRequirement, routeName?: string): Step;
  /** The requirement from the options themselves (`optional`, `scopes`). */
  readonly defaultRequirement: AuthRequirement;
  /** For routes without auth: removes credentials (unless `forwardCredentials`) and client-sent consumer headers. */
  stripCredentials(req: GatewayRequest): void;
  /** Lower-case header names the upstream receives the principal under. */
  readonly consumerHeaders: ConsumerHeaderNames;
  /** Aborts a running JWKS fetch (of a cache of its own; a `jwksCache` source's are its owner's). */
  close(): Promise<void>;
}

/**
 * What an authenticator needs from its host: the gateway's sinks and, in a gateway, where the
 * cache of a `jwksUri` comes from (default: a cache of the authenticator's own).
 *
 * @example
 * const ctx: AuthContext = { emit, sendProblem, jwksCache: resources.jwksCacheFor(lease) };
 */
export type AuthContext = InternalContext & { jwksCache?: JwksCacheSource | undefined };

/**
 * Compiles parsed authentication options (see `parseAuthOptions`, or `auth` of
 * `parseGatewayConfig`) and prepares every strategy. Never throws: the options
 * were validated when parsed. jose is loaded here, in the background, when
 * `jwt` is configured.
 *
 * @example
 * const auth = createAuthenticator(parseAuthOptions({ jwt: { algorithms: ['RS256'], jwksUri } }).value, ctx);
 */
export function createAuthenticator(common: ResolvedAuthOptions, ctx: AuthContext): Authenticator {
  const { emit, sendProblem } = ctx;
  const apiKey: ApiKeyStrategy | undefined =
    common.apiKey === undefined ? undefined : createApiKeyStrategy(common.apiKey);
  const jwt: JwtStrategy | undefined =
    common.jwt === undefined ? undefined : createJwtStrategy(common.jwt, loadJose(), ctx.jwksCache);
  const basic: BasicStrategy | undefined =
    common.basic === undefined ? undefined : createBasicStrategy(common.basic);
  const verify: CustomVerifier | undefined = common.verify;

  const names: ConsumerHeaderNames = common.consumerHeaders;
  const forward = common.forwardCredentials;
  const stripAuthorization = jwt !== undefined || basic !== undefined || verify !== undefined;
  const challenges = new Challenges({
    realm: common.realm,
    apiKeyHeader: apiKey?.header,
    jwt: jwt !== undefined,
    basicRealm: basic?.realm,
  });

  // Header names removed before a request goes on: the credentials this configuration reads
  // (never when forwardCredentials) and client-sent consumer headers.
  const removedHeaders: string[] = [names.id, names.scopes, names.type];
  if (!forward && apiKey) removedHeaders.push(apiKey.header);
  if (!forward && stripAuthorization) removedHeaders.push('authorization');
  const removedHeaderSet: ReadonlySet<string> = new Set(removedHeaders);

  /** Removes the credentials this configuration reads (unless forwardCredentials) and client-sent consumer headers. */
  function stripRequest(req: GatewayRequest): void {
    const headers = req.headers;
    for (let i = 0; i < removedHeaders.length; i++) {
      if (headers[removedHeaders[i] as string] !== undefined) {
        // Rebuilt rather than deleted from, so it stays a fast object (see copyHeadersExcept).
        req.headers = copyHeadersExcept(headers, removedHeaderSet, null);
        break;
      }
    }
    const query = apiKey?.query;
    if (forward || query === undefined) return;
    const url = req.url;
    if (url?.includes('?')) req.url = removeQueryParam(url, query);
    // Keep the key out of the host's access logs too.
    const original = req.originalUrl;
    if (original?.includes('?')) req.originalUrl = removeQueryParam(original, query);
    // Express 4 parsed req.query before us; later host handlers must not see the key there either.
    const parsed = (req as { query?: unknown }).query;
    if (parsed !== null && typeof parsed === 'object' && Object.hasOwn(parsed, query)) {
      delete (parsed as Record<string, unknown>)[query];
    }
  }

  function step(requirement: AuthRequirement, routeName?: string): Step {
    const optional = requirement.optional;
    // Scope-tokens (checked by the schema): they end up in a quoted challenge parameter.
    const required = Object.freeze([...requirement.scopes]);
    const forbiddenBearer = { 'WWW-Authenticate': challenges.insufficientScope(required) };
    const missingHeaders = { 'WWW-Authenticate': challenges.missing };

    function refuse(
      req: GatewayRequest,
      res: ServerResponse,
      gw: GatewayContext,
      failure: AuthFailure,
      strategy: PrincipalType | undefined,
    ): false {
      if (isListening(emit, 'auth.failed')) {
        const event = {
          type: 'auth.failed' as const,
          requestId: gw.requestId,
          reason: failure.reason,
          status: failure.status,
          ...(strategy !== undefined && { strategy }),
          ...(routeName !== undefined && { route: routeName }),
        };
        emit(event);
      }
      if (failure.status === 500) {
        sendProblem(req, res, { code: 'internal_error', detail: failure.detail });
      } else {
        const headers =
          failure === MISSING_CREDENTIALS
            ? missingHeaders
            : { 'WWW-Authenticate': challenges.refused(strategy, failure) };
        sendProblem(req, res, { code: 'unauthorized', detail: failure.detail, headers });
      }
      return false;
    }

    function accept(
      req: GatewayRequest,
      res: ServerResponse,
      gw: GatewayContext,
      principal: Principal,
      encoded?: { id: string; scopes: string },
    ): boolean {
      if (required.length > 0 && !hasScopes(principal.scopes, required)) {
        if (isListening(emit, 'auth.failed')) {
          emit({
            type: 'auth.failed',
            requestId: gw.requestId,
            strategy: principal.type,
            reason: 'insufficient_scope',
            status: 403,
            consumerId: principal.id,
            ...(routeName !== undefined && { route: routeName }),
          });
        }
        sendProblem(req, res, {
          code: 'forbidden',
          detail: `This request requires the scope${required.length > 1 ? 's' : ''} ${required.join(', ')}.`,
          ...(principal.type === 'jwt' && { headers: forbiddenBearer }),
        });
        return false;
      }
      gw.principal = principal;
      stripRequest(req);
      setConsumerHeaders(req.headers, names, principal, encoded);
      if (isListening(emit, 'auth.succeeded')) {
        emit({
          type: 'auth.succeeded',
          requestId: gw.requestId,
          strategy: principal.type,
          consumerId: principal.id,
          ...(routeName !== undefined && { route: routeName }),
        });
      }
      return true;
    }

    function noCredentials(
      req: GatewayRequest,
      res: ServerResponse,
      gw: GatewayContext,
      strategy: PrincipalType | undefined,
    ): boolean {
      if (!optional || required.length > 0)
        return refuse(req, res, gw, MISSING_CREDENTIALS, strategy);
      return accept(req, res, gw, anonymousPrincipal());
    }

    function settle(
      req: GatewayRequest,
      res: ServerResponse,
      gw: GatewayContext,
      result: Principal | AuthFailure,
      strategy: PrincipalType,
    ): boolean {
      return result instanceof AuthFailure
        ? refuse(req, res, gw, result, strategy)
        : accept(req, res, gw, result);
    }

    function settleApiKey(
      req: GatewayRequest,
      res: ServerResponse,
      gw: GatewayContext,
      result: ApiKeyResult,
    ): boolean {
      return result instanceof AuthFailure
        ? refuse(req, res, gw, result, 'apiKey')
        : accept(req, res, gw, result.principal, result.encoded);
    }

    function runVerify(
      req: GatewayRequest,
      res: ServerResponse,
      gw: GatewayContext,
      verifier: CustomVerifier,
    ): boolean | Promise<boolean> {
      const done = (value: unknown): boolean => {
        if (value === null || value === undefined) return noCredentials(req, res, gw, 'custom');
        const principal = normalizePrincipal(value, 'custom');
        return principal === undefined
          ? refuse(req, res, gw, VERIFIER_ERROR, 'custom')
          : accept(req, res, gw, principal);
      };
      let value: ReturnType<CustomVerifier>;
      try {
        value = verifier(req);
      } catch {
        return refuse(req, res, gw, VERIFIER_ERROR, 'custom');
      }
      if (isThenable(value)) {
        return Promise.resolve(value).then(done, () =>
          refuse(req, res, gw, VERIFIER_ERROR, 'custom'),
        );
      }
      return done(value);
    }

    return function authenticateStep(req, res) {
      const gw = gatewayContext(req, res);
      const headers = req.headers;
      if (apiKey) {
        let presented: string | string[] | undefined = headers[apiKey.header];
        if (presented === undefined && apiKey.query !== undefined) {
          const url = req.url;
          if (url?.includes('?')) {
            const found = findQueryParam(url, apiKey.query);
            if (found === AMBIGUOUS) return refuse(req, res, gw, INVALID_KEY, 'apiKey');
            presented = found;
          }
        }
        if (presented !== undefined) {
          if (typeof presented !== 'string' || presented.length === 0) {
            return refuse(req, res, gw, INVALID_KEY, 'apiKey');
          }
          const result = apiKey.authenticate(presented, req);
          if (isThenable(result)) return result.then((r) => settleApiKey(req, res, gw, r));
          return settleApiKey(req, res, gw, result);
        }
      }
      const authorization = headers.authorization;
      if (authorization !== undefined) {
        if (jwt && hasScheme(authorization, 'bearer')) {
          const token = authorization.slice(7).trim();
          if (token.length === 0) return refuse(req, res, gw, INVALID_TOKEN, 'jwt');
          return jwt.verify(token).then((r) => settle(req, res, gw, r, 'jwt'));
        }
        if (basic && hasScheme(authorization, 'basic')) {
          const credentials = authorization.slice(6).trim();
          if (credentials.length === 0) return refuse(req, res, gw, INVALID_CREDENTIALS, 'basic');
          return basic.verify(credentials, req).then((r) => settle(req, res, gw, r, 'basic'));
        }
      }
      if (verify) return runVerify(req, res, gw, verify);
      return noCredentials(req, res, gw, undefined);
    };
  }

  return {
    step,
    defaultRequirement: common.requirement,
    consumerHeaders: names,
    stripCredentials: stripRequest,
    async close() {
      jwt?.close();
    },
  };
}

/** `Bearer x` / `basic x` (or the bare scheme): the scheme is case-insensitive (RFC 9110 §11.1). */
function hasScheme(value: string, scheme: 'bearer' | 'basic'): boolean {
  const n = scheme.length;
  if (value.length < n || (value.length > n && value.charCodeAt(n) !== 32)) return false;
  return value.slice(0, n).toLowerCase() === scheme;
}
