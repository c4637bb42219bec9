import type { ServerResponse } from 'node:http';
import type { Authenticator } from '../auth/authenticator.js';
import { type Step, type StepResult, whenAllowed } from '../pipeline.js';
import type { CompiledRoute, RouteMatch } from '../route/route.js';
import type { GatewayRequest, NextFunction } from '../types.js';

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
