import type { ServerResponse } from 'node:http';
import type { Authenticator, AuthRequirement } from '../auth/authenticator.js';
import { expectScopes } from '../auth/options.js';
import { GatewayConfigError } from '../errors.js';
import { isPlainObject, rejectUnknownKeys } from '../options.js';
import { type Step, type StepResult, whenAllowed } from '../pipeline.js';
import type { CompiledRoute, RouteMatch } from '../route/route.js';
import type { GatewayRequest, NextFunction } from '../types.js';

/** Per-route authentication in `createGateway`: on (default when `auth` is set), off, optional, or with scopes. */
export type RouteAuth = boolean | 'optional' | { scopes: string[] };

/**
 * The auth step of one route of a gateway: the gateway's authenticator with the route's
 * requirement, or `null` for none. Throws `GatewayConfigError` at `field` for a route that
 * asks for auth in a gateway without `auth`, or an `auth` value of the wrong shape.
 *
 * @example
 * const step = resolveRouteAuth({ scopes: ['orders:read'] }, authenticator, 'routes[2].auth', 'orders');
 */
export function resolveRouteAuth(
  auth: RouteAuth | undefined,
  authenticator: Authenticator | null,
  field: string,
  routeName: string | undefined,
): Step | null {
  if (auth === false) return null;
  if (auth === undefined) {
    return authenticator ? authenticator.step(authenticator.defaultRequirement, routeName) : null;
  }
  if (!authenticator) {
    throw new GatewayConfigError(
      field,
      'needs the gateway-level `auth` option to say how to authenticate',
    );
  }
  let requirement: AuthRequirement;
  if (auth === true) requirement = authenticator.defaultRequirement;
  else if (auth === 'optional') requirement = { optional: true, scopes: [] };
  else if (isPlainObject(auth)) {
    rejectUnknownKeys(auth, ['scopes'], field);
    requirement = { optional: false, scopes: expectScopes(auth.scopes, `${field}.scopes`) };
  } else {
    throw new GatewayConfigError(field, "must be true, false, 'optional' or { scopes: [...] }");
  }
  return authenticator.step(requirement, routeName);
}

/**
 * One route of a compiled gateway configuration with its precomputed chain:
 * authenticate → rate limit → forward. Every stage belongs to the same
 * configuration, also across the asynchronous ones.
 *
 * @example
 * const route = new GatewayRoute(compiled, authStep, limitStep, authenticator);
 * route.run(req, res, next, match);
 */
export class GatewayRoute {
  constructor(
    readonly compiled: CompiledRoute,
    private readonly authStep: Step | null,
    private readonly limitStep: Step | null,
    private readonly authenticator: Authenticator | null,
  ) {}

  run(req: GatewayRequest, res: ServerResponse, next: NextFunction, match: RouteMatch): void {
    if (this.authStep === null) {
      this.authenticator?.stripCredentials(req);
      this.afterAuth(req, res, next, match);
      return;
    }
    const result = this.authStep(req, res);
    if (result === true) this.afterAuth(req, res, next, match);
    else if (result !== false)
      whenAllowed(result, next, () => this.afterAuth(req, res, next, match));
  }

  private afterAuth(
    req: GatewayRequest,
    res: ServerResponse,
    next: NextFunction,
    match: RouteMatch,
  ): void {
    if (this.limitStep === null) {
      this.compiled.forward(req, res, next, match);
      return;
    }
    let result: StepResult;
    try {
      result = this.limitStep(req, res);
    } catch (err) {
      next(err);
      return;
    }
    if (result === true) this.compiled.forward(req, res, next, match);
    else if (result !== false)
      whenAllowed(result, next, () => this.compiled.forward(req, res, next, match));
  }
}
