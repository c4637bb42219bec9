import type { ServerResponse } from 'node:http';
import { type Authenticator, createAuthenticator } from '../auth/authenticator.js';
import { createEmitter } from '../events.js';
import type { InternalContext, Step } from '../pipeline.js';
import { createProblemSender } from '../problem.js';
import { createLimiter, type Limiter } from '../rate-limit/limiter.js';
import { takeRequest, trackRequest } from '../request-completed.js';
import { admitRequest } from '../route/admit-request.js';
import { compileRoute } from '../route/route.js';
import type { ResolvedGatewayConfig } from '../schema/gateway.js';
import type { RateLimitStore } from '../stores/types.js';
import { traceServerRoute } from '../tracing/server-route.js';
import type { GatewayRequest, NextFunction } from '../types.js';
import { GatewayRoute } from './gateway-route.js';
import { InFlight } from './in-flight.js';
import { Lease } from './registry.js';
import type { GatewayResources } from './resources.js';

/**
 * One compiled gateway configuration, immutable: its routes with their
 * matchers, auth steps, limiters and target pools, its event sink and problem
 * format. The gateway's request handler reads the current snapshot once, on
 * entry, and the request runs wholly on it (`serve`), across its asynchronous
 * stages too. Long-lived state (counters, target health, agents, JWKS caches)
 * is not in it: it holds a {@link Lease} on the gateway's {@link GatewayResources}.
 * Its requests in flight are counted in `inFlight`; once it is retired and the
 * last one has ended, `release()` gives back what it held.
 *
 * @example
 * const snapshot = compileSnapshot(config, resources, 1);
 * snapshot.serve(req, res, next);
 */
export class GatewaySnapshot {
  /** Requests and tunnels this configuration is serving. */
  readonly inFlight = new InFlight();
  /** The one mutable bit besides `inFlight`: the release once started. */
  private readonly released: { promise: Promise<void> | null } = { promise: null };

  constructor(
    /** 1 for the configuration given to `createGateway`, then 2, 3, … for each update applied. */
    readonly version: number,
    /** The stable hash of the configuration's data part (see `configHash`). */
    readonly hash: string,
    readonly routes: readonly GatewayRoute[],
    readonly fallthrough: boolean,
    readonly ctx: InternalContext,
    private readonly lease: Lease,
    private readonly closers: ReadonlyArray<() => Promise<void>>,
    private readonly onSwap: ReadonlyArray<() => void>,
    /** What parsing the configuration warned about (`config.warning`), emitted once it serves. */
    private readonly warnings: ReadonlyArray<{ field: string; message: string }>,
  ) {
    Object.freeze(this);
  }

  /**
   * Runs one request on this configuration: path normalisation, then for the first matching
   * route (path, host, method) authentication, rate limiting and proxying; 405 with `Allow` for
   * a path that matches with another method; unmatched requests go to `next()` untouched
   * (`fallthrough`) or get a 404 problem.
   */
  serve(req: GatewayRequest, res: ServerResponse, next: NextFunction): void {
    const ctx = this.ctx;
    try {
      // `request.completed`, only when someone listens (null: nothing was spent).
      const record = takeRequest(res, ctx.emit, true);
      // No gatewayContext() here: an unmatched request must leave untouched (no request id
      // header, no req.gateway); every step that needs it creates it on first use.
      const originalUrl = req.url;
      const path = admitRequest(req, res, ctx);
      if (path === null) return;
      const routes = this.routes;
      let allowed: Set<string> | null = null;
      for (let i = 0; i < routes.length; i++) {
        const route = routes[i] as GatewayRoute;
        const match = route.compiled.match(path, req);
        if (match === null) continue;
        if (route.compiled.allowsMethod(req.method ?? 'GET')) {
          if (record !== null) record.route = route.compiled.label;
          traceServerRoute(route.compiled.template);
          // In flight on this configuration until its response (or tunnel) closes.
          trackRequest(res, this.inFlight);
          route.run(req, res, next, match);
          return;
        }
        allowed ??= new Set();
        for (const method of route.compiled.methods ?? []) allowed.add(method);
      }
      if (allowed !== null) {
        const allow = [...allowed].join(', ');
        ctx.sendProblem(req, res, {
          code: 'method_not_allowed',
          detail: `Method ${req.method} is not allowed here; allowed: ${allow}.`,
          headers: { Allow: allow },
        });
      } else if (this.fallthrough) {
        // Unmatched requests leave the gateway as they came in.
        req.url = originalUrl;
        if (record !== null) record.unmatched = true;
        next();
      } else {
        ctx.sendProblem(req, res, { code: 'not_found', detail: 'No route matches this request.' });
      }
    } catch (err) {
      next(err);
    }
  }

  /** Called once, when this configuration becomes the current one. */
  swappedIn(): void {
    for (const apply of this.onSwap) apply();
  }

  /** Emits the configuration's warnings (`config.warning`) through its own `onEvent`. */
  emitWarnings(): void {
    for (const warning of this.warnings) this.ctx.emit({ type: 'config.warning', ...warning });
  }

  /**
   * Gives back what this configuration held: its lease on the gateway's resources (whatever no
   * other configuration holds is released) and what its parts opened themselves. Idempotent.
   */
  release(): Promise<void> {
    if (this.released.promise === null) {
      this.lease.release();
      this.released.promise = closeAll(this.closers);
    }
    return this.released.promise;
  }
}

/**
 * Compiles a parsed gateway configuration (`parseGatewayConfig`, which threw for
 * every mistake) into a {@link GatewaySnapshot}: authenticator, limiters (their
 * store: the config's `store`, else the gateway's own MemoryStore), routes with
 * their targets from the gateway's resources. Should a part still fail, what the
 * snapshot had taken is given back before the error goes on (nothing of a
 * rejected configuration stays open; resources shared with the serving
 * configuration are untouched). `hash` is `configHash` of the configuration as given.
 *
 * @example
 * const next = compileSnapshot(parseGatewayConfig(input), configHash(input), resources, version + 1);
 */
export function compileSnapshot(
  config: ResolvedGatewayConfig,
  hash: string,
  resources: GatewayResources,
  version: number,
): GatewaySnapshot {
  const ctx: InternalContext = {
    emit: createEmitter(config.onEvent),
    sendProblem: createProblemSender(config.errorResponse),
  };
  const lease = new Lease();
  const closers: Array<() => Promise<void>> = [];
  const onSwap: Array<() => void> = [];
  try {
    const authenticator: Authenticator | null =
      config.auth === undefined
        ? null
        : createAuthenticator(config.auth, {
            ...ctx,
            jwksCache: resources.jwksCacheSource(lease, (apply) => onSwap.push(apply)),
          });
    if (authenticator) closers.push(() => authenticator.close());

    // One store for every policy that names none: the config's, else the gateway's own
    // MemoryStore, made when some policy first needs it and kept while configurations name no
    // store (so its counters carry over).
    let sharedStore: RateLimitStore | undefined =
      config.store ?? (resources.hasOwnStore() ? resources.ownStore(lease) : undefined);
    const storeForLimiters = (): RateLimitStore => {
      sharedStore ??= resources.ownStore(lease);
      return sharedStore;
    };

    // The default policy is one limiter shared by every route that inherits it,
    // so a client's budget is counted once across those routes.
    let defaultLimiter: Limiter | null = null;
    if (config.rateLimit) {
      defaultLimiter = createLimiter(config.rateLimit, {
        ...ctx,
        store: storeForLimiters(),
      });
      const limiter = defaultLimiter;
      closers.push(() => limiter.close());
    }

    const upstreams = resources.upstreams;
    const routes = config.routes.map((routeOptions) => {
      const { auth, rateLimit } = routeOptions;
      const compiled = compileRoute(routeOptions, {
        ...ctx,
        upstreams,
        lease,
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
      const route = new GatewayRoute(compiled, authStep, limitStep, authenticator);
      Object.freeze(route);
      return route;
    });

    return new GatewaySnapshot(
      version,
      hash,
      Object.freeze(routes),
      config.fallthrough,
      Object.freeze(ctx),
      lease,
      closers,
      onSwap,
      config.warnings,
    );
  } catch (err) {
    // Give back what was taken before the mistake was found.
    lease.release();
    closeAll(closers).catch(() => {});
    throw err;
  }
}

async function closeAll(closers: ReadonlyArray<() => Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(closers.map((close) => close()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
