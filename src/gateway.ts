import type { ServerResponse } from 'node:http';
import { type Authenticator, createAuthenticator } from './auth/authenticator.js';
import { createEmitter } from './events.js';
import { type InternalContext, type Step, type StepResult, whenAllowed } from './pipeline.js';
import { createProblemSender } from './problem.js';
import { createLimiter, type Limiter } from './rate-limit/limiter.js';
import { takeRequest } from './request-completed.js';
import { admitRequest } from './route/admit-request.js';
import { type CompiledRoute, compileRoute, type RouteMatch } from './route/route.js';
import { Upstreams } from './route/upstreams.js';
import { type GatewayConfig, parseGatewayConfig } from './schema/gateway.js';
import { MemoryStore } from './stores/memory-store.js';
import type { RateLimitStore } from './stores/types.js';
import type { GatewayMiddleware, GatewayRequest, NextFunction } from './types.js';

export type { GatewayConfig, GatewayRouteOptions, RouteAuth } from './schema/gateway.js';

/**
 * One middleware that runs the whole gateway: path normalisation, then for
 * the first matching route authentication, rate limiting and proxying.
 * Options are validated now; a mistake throws `GatewayConfigError` naming it.
 *
 * @example
 * app.use('/api', createGateway({
 *   auth: { apiKey: { keys: [{ id: 'alice', key: process.env.ALICE_KEY! }] } },
 *   rateLimit: { limit: 5, window: '1m' },
 *   routes: [{ path: '/users{/*path}', target: 'http://localhost:8081', rewrite: '/{*path}' }],
 * }));
 */
export function createGateway(config: GatewayConfig): GatewayMiddleware {
  // Validated whole, synchronously: every mistake throws GatewayConfigError here.
  const resolved = parseGatewayConfig(config);
  const fallthrough = resolved.fallthrough;
  const ctx: InternalContext = {
    emit: createEmitter(resolved.onEvent),
    sendProblem: createProblemSender(resolved.errorResponse),
  };
  for (const warning of resolved.warnings) ctx.emit({ type: 'config.warning', ...warning });
  const closers: Array<() => Promise<void>> = [];
  // The gateway's forwarding resources: one send queue for its routes, their targets and agents.
  const upstreams = new Upstreams(ctx.emit);
  closers.push(() => upstreams.close());
  try {
    const authenticator =
      resolved.auth === undefined ? null : createAuthenticator(resolved.auth, ctx);
    if (authenticator) closers.push(() => authenticator.close());

    // One store for every policy that names none, created only when some policy needs it.
    let sharedStore: RateLimitStore | undefined = resolved.store;
    const storeForLimiters = (): RateLimitStore => {
      if (sharedStore === undefined) {
        const owned = new MemoryStore();
        closers.push(() => owned.close());
        sharedStore = owned;
      }
      return sharedStore;
    };
    // The default policy is one limiter shared by every route that inherits it,
    // so a client's budget is counted once across those routes.
    let defaultLimiter: Limiter | null = null;
    if (resolved.rateLimit) {
      defaultLimiter = createLimiter(resolved.rateLimit, {
        ...ctx,
        store: storeForLimiters(),
      });
      const limiter = defaultLimiter;
      closers.push(() => limiter.close());
    }

    const routes = resolved.routes.map((routeOptions) => {
      const { auth, rateLimit } = routeOptions;
      const compiled = compileRoute(routeOptions, {
        ...ctx,
        upstreams,
        consumerHeaders: authenticator?.consumerHeaders,
      });
      closers.push(() => compiled.close());
      const authStep =
        auth === null || authenticator === null ? null : authenticator.step(auth, compiled.label);
      let limitStep: Step | null = null;
      if (rateLimit === undefined) {
        // The shared default limiter, with this route's label in its events.
        limitStep = defaultLimiter?.stepFor(compiled.label) ?? null;
      } else if (rateLimit !== false) {
        const limiter = createLimiter(rateLimit, {
          ...ctx,
          store: storeForLimiters(),
          routeName: compiled.label,
        });
        closers.push(() => limiter.close());
        limitStep = limiter.step;
      }
      return new GatewayRoute(compiled, authStep, limitStep, authenticator);
    });

    const sendProblem = ctx.sendProblem;
    const emit = ctx.emit;
    const gateway = (req: GatewayRequest, res: ServerResponse, next: NextFunction): void => {
      try {
        // `request.completed`, only when someone listens (null: nothing was spent).
        const record = takeRequest(res, emit, true);
        // No gatewayContext() here: an unmatched request must leave untouched (no request id
        // header, no req.gateway); every step that needs it creates it on first use.
        const originalUrl = req.url;
        const path = admitRequest(req, res, ctx);
        if (path === null) return;
        let allowed: Set<string> | null = null;
        for (let i = 0; i < routes.length; i++) {
          const route = routes[i] as GatewayRoute;
          const match = route.compiled.match(path, req);
          if (match === null) continue;
          if (route.compiled.allowsMethod(req.method ?? 'GET')) {
            if (record !== null) record.route = route.compiled.label;
            route.run(req, res, next, match);
            return;
          }
          allowed ??= new Set();
          for (const method of route.compiled.methods ?? []) allowed.add(method);
        }
        if (allowed !== null) {
          const allow = [...allowed].join(', ');
          sendProblem(req, res, {
            code: 'method_not_allowed',
            detail: `Method ${req.method} is not allowed here; allowed: ${allow}.`,
            headers: { Allow: allow },
          });
        } else if (fallthrough) {
          // Unmatched requests leave the gateway as they came in.
          req.url = originalUrl;
          if (record !== null) record.unmatched = true;
          next();
        } else {
          sendProblem(req, res, { code: 'not_found', detail: 'No route matches this request.' });
        }
      } catch (err) {
        next(err);
      }
    };
    Object.defineProperty(gateway, 'name', { value: 'portcullisGateway' });
    return Object.assign(gateway, {
      close: () => closeAll(closers),
    }) as GatewayMiddleware;
  } catch (err) {
    // Release what was already opened before the mistake was found.
    closeAll(closers).catch(() => {});
    throw err;
  }
}

/** One route with its precomputed chain: authenticate → rate limit → forward. */
class GatewayRoute {
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

async function closeAll(closers: Array<() => Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(closers.map((close) => close()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
