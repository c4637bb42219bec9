import type { ServerResponse } from 'node:http';
import {
  type Authenticator,
  type AuthRequirement,
  createAuthenticator,
} from './auth/authenticator.js';
import { type AuthOptions, expectScopes } from './auth/options.js';
import { GatewayConfigError } from './errors.js';
import { createEmitter } from './events.js';
import {
  expectBoolean,
  expectFunction,
  expectObject,
  isPlainObject,
  rejectUnknownKeys,
} from './options.js';
import { type InternalContext, type Step, type StepResult, whenAllowed } from './pipeline.js';
import { createProblemSender, type ErrorResponder } from './problem.js';
import { createLimiter, type Limiter } from './rate-limit/limiter.js';
import { takeRequest } from './request-completed.js';
import { admitRequest } from './route/admit-request.js';
import type { RouteOptions } from './route/options.js';
import { type CompiledRoute, compileRoute, type RouteMatch } from './route/route.js';
import { Upstreams } from './route/upstreams.js';
import { parseOptions } from './schema/parse.js';
import { type RateLimitOptions, rateLimitOptions } from './schema/rate-limit.js';
import { rateLimitStore } from './schema/stores.js';
import { MemoryStore } from './stores/memory-store.js';
import type { RateLimitStore } from './stores/types.js';
import type {
  GatewayEventListener,
  GatewayMiddleware,
  GatewayRequest,
  NextFunction,
} from './types.js';

/** Per-route authentication in `createGateway`: on (default when `auth` is set), off, optional, or with scopes. */
export type RouteAuth = boolean | 'optional' | { scopes: string[] };

/** A route of the gateway: `route()`'s options plus per-route auth and rate limit overrides. */
export type GatewayRouteOptions = RouteOptions & {
  /** Default: `true` when the gateway has `auth`, else `false`. */
  auth?: RouteAuth;
  /** `false` disables limiting for this route; an object replaces the gateway's default policy. */
  rateLimit?: false | RateLimitOptions;
};

/** Options of {@link createGateway}. */
export interface GatewayConfig {
  /** The gateway's authentication strategies (see `authenticate()`). */
  auth?: AuthOptions;
  /** The default rate limit of every route; `false` or absent: no default limit. */
  rateLimit?: RateLimitOptions | false;
  /** Shared by every policy that names no store of its own. Default: one bounded `MemoryStore`. */
  store?: RateLimitStore;
  /** Tried in order; the first match (path, method, host) wins. */
  routes: GatewayRouteOptions[];
  /** Default `true`: unmatched requests go to `next()`. `false`: 404 problem. */
  fallthrough?: boolean;
  /** Structured events (auth, rate limits, proxying, config warnings). No secrets. */
  onEvent?: GatewayEventListener;
  /** Replaces how problem bodies are written. Status and headers are set before it is called. */
  errorResponse?: ErrorResponder;
}

const CONFIG_KEYS = [
  'auth',
  'rateLimit',
  'store',
  'routes',
  'fallthrough',
  'onEvent',
  'errorResponse',
] as const;

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
  const options = expectObject(config, 'config');
  rejectUnknownKeys(options, CONFIG_KEYS, '');
  if (options.onEvent !== undefined) expectFunction(options.onEvent, 'onEvent');
  if (options.errorResponse !== undefined) expectFunction(options.errorResponse, 'errorResponse');
  const fallthrough =
    options.fallthrough === undefined ? true : expectBoolean(options.fallthrough, 'fallthrough');
  if (!Array.isArray(options.routes) || options.routes.length === 0) {
    throw new GatewayConfigError('routes', 'must be a non-empty array of routes');
  }
  if (
    options.rateLimit !== undefined &&
    options.rateLimit !== false &&
    !isPlainObject(options.rateLimit)
  ) {
    throw new GatewayConfigError('rateLimit', 'must be rate limit options or false');
  }

  const ctx: InternalContext = {
    emit: createEmitter(config.onEvent),
    sendProblem: createProblemSender(config.errorResponse),
  };
  const closers: Array<() => Promise<void>> = [];
  // The gateway's forwarding resources: one send queue for its routes, their targets and agents.
  const upstreams = new Upstreams(ctx.emit);
  closers.push(() => upstreams.close());
  try {
    const authenticator =
      config.auth === undefined ? null : createAuthenticator(config.auth, 'auth', ctx);
    if (authenticator) closers.push(() => authenticator.close());

    // One store for every policy that names none, created only when some policy needs it.
    let sharedStore: RateLimitStore | undefined = config.store;
    const storeForLimiters = (): RateLimitStore => {
      if (sharedStore === undefined) {
        const owned = new MemoryStore();
        closers.push(() => owned.close());
        sharedStore = owned;
      }
      return sharedStore;
    };
    if (config.store !== undefined) {
      parseOptions(rateLimitStore, config.store, { prefix: 'store', root: 'store' });
    }
    const parseLimits = (value: RateLimitOptions, prefix: string) => {
      const parsed = parseOptions(rateLimitOptions, value, { prefix, root: prefix });
      for (const warning of parsed.warnings) ctx.emit({ type: 'config.warning', ...warning });
      return parsed.value;
    };

    // The default policy is one limiter shared by every route that inherits it,
    // so a client's budget is counted once across those routes.
    let defaultLimiter: Limiter | null = null;
    if (config.rateLimit) {
      defaultLimiter = createLimiter(parseLimits(config.rateLimit, 'rateLimit'), {
        ...ctx,
        store: storeForLimiters(),
      });
      const limiter = defaultLimiter;
      closers.push(() => limiter.close());
    }

    const routes = config.routes.map((routeConfig, index) => {
      const field = `routes[${index}]`;
      expectObject(routeConfig, field);
      const { auth, rateLimit, ...routeOptions } = routeConfig;
      const compiled = compileRoute(routeOptions, field, {
        ...ctx,
        upstreams,
        consumerHeaders: authenticator?.consumerHeaders,
      });
      closers.push(() => compiled.close());
      const authStep = resolveRouteAuth(auth, authenticator, `${field}.auth`, compiled.label);
      let limitStep: Step | null = null;
      if (rateLimit === undefined) {
        // The shared default limiter, with this route's label in its events.
        limitStep = defaultLimiter?.stepFor(compiled.label) ?? null;
      } else if (rateLimit !== false) {
        const limiter = createLimiter(parseLimits(rateLimit, `${field}.rateLimit`), {
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

function resolveRouteAuth(
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
