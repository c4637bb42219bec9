import type { ServerResponse } from 'node:http';
import type { AuthOptions } from './auth/options.js';
import { GatewayConfigError } from './errors.js';
import { ClosedGateway, type ServesRequests } from './gateway/closed-gateway.js';
import type { RouteAuth } from './gateway/gateway-route.js';
import { GatewayResources } from './gateway/resources.js';
import { compileSnapshot, type GatewaySnapshot } from './gateway/snapshot.js';
import {
  expectBoolean,
  expectFunction,
  expectObject,
  isPlainObject,
  rejectUnknownKeys,
} from './options.js';
import type { ErrorResponder } from './problem.js';
import type { RateLimitOptions } from './rate-limit/options.js';
import type { RouteOptions } from './route/options.js';
import type { RateLimitStore } from './stores/types.js';
import type {
  GatewayEventListener,
  GatewayMiddleware,
  GatewayRequest,
  NextFunction,
} from './types.js';

export type { RouteAuth } from './gateway/gateway-route.js';

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
 * Options of {@link Gateway.close}.
 *
 * @example
 * await gateway.close({ graceMs: 30_000 });
 */
export interface GatewayCloseOptions {
  /**
   * How long requests and WebSocket tunnels in flight may take to finish, in milliseconds,
   * before they are cut. Default `10_000`; `0` cuts them at once.
   */
  graceMs?: number;
}

/**
 * The middleware `createGateway` returns: an ordinary `(req, res, next)`
 * middleware, plus `update()` to swap in a new configuration while it serves,
 * and a draining `close()`.
 *
 * @example
 * const gateway: Gateway = createGateway(config);
 * app.use('/api', gateway);
 * await gateway.update(nextConfig);  // rejects with GatewayConfigError; the old one keeps serving
 * await gateway.close({ graceMs: 5_000 });
 */
export interface Gateway extends GatewayMiddleware {
  /**
   * Validates and compiles `config` completely, then swaps it in at once. Each request runs
   * wholly on the configuration that was current when it entered the gateway. Rejects with
   * `GatewayConfigError` for an invalid configuration (the old one keeps serving, untouched,
   * and `config.rejected` is emitted); resolves once the new one serves (`config.updated`).
   * Counters of a policy with the same name on the same store, the health and pooled
   * connections of a target still on the same route (by `name`, else `path`) and the JWKS cache
   * of the same `jwksUri` carry over; what only the old configuration used is released after its
   * last in-flight request. Calls apply in call order; after `close()` they reject.
   */
  update(config: GatewayConfig): Promise<void>;
  /**
   * Drains and releases: requests arriving from now on get 503 `service_unavailable`; those in
   * flight and open WebSocket tunnels may finish for up to `graceMs` (default `10_000`), then
   * what is left is cut (client connections closed, upstream requests aborted) and everything
   * the gateway opened is released (agents, JWKS fetches, its own MemoryStore; never a store or
   * client you passed). Resolves when done; calling it again returns the same promise.
   */
  close(options?: GatewayCloseOptions): Promise<void>;
}

/** Default of `close({ graceMs })`. */
const DEFAULT_GRACE_MS = 10_000;

/**
 * One middleware that runs the whole gateway: path normalisation, then for
 * the first matching route authentication, rate limiting and proxying.
 * Options are validated now; a mistake throws `GatewayConfigError` naming it.
 * The configuration is compiled once into an immutable snapshot; `update()`
 * swaps in another while the gateway serves, and `close()` drains.
 *
 * @example
 * const gateway = createGateway({
 *   auth: { apiKey: { keys: [{ id: 'alice', key: process.env.ALICE_KEY! }] } },
 *   rateLimit: { limit: 5, window: '1m' },
 *   routes: [{ path: '/users{/*path}', target: 'http://localhost:8081', rewrite: '/{*path}' }],
 * });
 * app.use('/api', gateway);
 * process.on('SIGHUP', () => gateway.update(readConfig()).catch(() => {}));
 */
export function createGateway(config: GatewayConfig): Gateway {
  const resources = new GatewayResources();
  let snapshot: GatewaySnapshot;
  try {
    snapshot = compileSnapshot(checkGatewayConfig(config), resources, 1);
  } catch (err) {
    // Release what was already opened before the mistake was found.
    resources.close().catch(() => {});
    throw err;
  }
  snapshot.swappedIn();
  // The first configuration is version 1: announced like every later one, so that whoever
  // watches the configuration (config_info in the metrics) knows what serves from the start.
  snapshot.ctx.emit({ type: 'config.updated', version: snapshot.version, hash: snapshot.hash });
  /** What serves new requests: the current snapshot, or the 503 of a closed gateway. */
  let current: ServesRequests = snapshot;
  /** The snapshot last swapped in (also once closing). */
  let latest = snapshot;
  /** Snapshots not released yet: the current one and retired ones with requests in flight. */
  const live = new Set<GatewaySnapshot>([snapshot]);
  let updates: Promise<void> = Promise.resolve();
  let closing: Promise<void> | null = null;

  const retire = (old: GatewaySnapshot): void => {
    old.inFlight.retire();
    old.inFlight.idle
      .then(() => old.release())
      .catch(() => {
        // A part that fails to close has nothing more to give back.
      })
      .finally(() => live.delete(old));
  };

  const apply = (next: GatewayConfig): void => {
    if (closing !== null)
      throw new Error('the gateway is closed: update() cannot apply a configuration');
    let compiled: GatewaySnapshot;
    try {
      compiled = compileSnapshot(checkGatewayConfig(next), resources, latest.version + 1);
    } catch (err) {
      latest.ctx.emit({ type: 'config.rejected', error: rejectionMessage(err) });
      throw err;
    }
    const previous = latest;
    live.add(compiled);
    compiled.swappedIn();
    // The swap: requests entering from now on run on the new configuration.
    current = compiled;
    latest = compiled;
    retire(previous);
    compiled.ctx.emit({ type: 'config.updated', version: compiled.version, hash: compiled.hash });
  };

  const drain = async (graceMs: number): Promise<void> => {
    const draining = [...live];
    for (const old of draining) old.inFlight.retire();
    const idle = Promise.all(draining.map((old) => old.inFlight.idle));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([idle, graceOver]);
    clearTimeout(timer);
    // Past the grace period: cut what is left, and let its 'close' listeners run (they abort
    // the upstream requests) before the agents go.
    for (const old of draining) old.inFlight.cut();
    await new Promise<void>((resolve) => setImmediate(resolve));
    await Promise.allSettled(draining.map((old) => old.release()));
    live.clear();
    await resources.close();
  };

  const gateway = (req: GatewayRequest, res: ServerResponse, next: NextFunction): void => {
    // Read once: the whole request runs on this configuration.
    current.serve(req, res, next);
  };
  Object.defineProperty(gateway, 'name', { value: 'portcullisGateway' });
  return Object.assign(gateway, {
    update(next: GatewayConfig): Promise<void> {
      const applied = updates.then(() => apply(next));
      updates = applied.catch(() => {});
      return applied;
    },
    close(options?: GatewayCloseOptions): Promise<void> {
      if (closing !== null) return closing;
      let graceMs: number;
      try {
        graceMs = resolveGraceMs(options);
      } catch (err) {
        return Promise.reject(err);
      }
      current = new ClosedGateway(latest.ctx);
      closing = drain(graceMs);
      return closing;
    },
  }) as Gateway;
}

/**
 * The gateway-level options checked before compiling (the options of each part are checked as
 * it is compiled). The one place a schema's parse of the whole configuration will go.
 */
function checkGatewayConfig(config: GatewayConfig): GatewayConfig {
  const options = expectObject(config, 'config');
  rejectUnknownKeys(options, CONFIG_KEYS, '');
  if (options.onEvent !== undefined) expectFunction(options.onEvent, 'onEvent');
  if (options.errorResponse !== undefined) expectFunction(options.errorResponse, 'errorResponse');
  if (options.fallthrough !== undefined) expectBoolean(options.fallthrough, 'fallthrough');
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
  return config;
}

function resolveGraceMs(options: GatewayCloseOptions | undefined): number {
  if (options === undefined) return DEFAULT_GRACE_MS;
  const raw = expectObject(options, 'close options');
  rejectUnknownKeys(raw, ['graceMs'], '');
  const graceMs = raw.graceMs;
  if (graceMs === undefined) return DEFAULT_GRACE_MS;
  if (typeof graceMs !== 'number' || !Number.isFinite(graceMs) || graceMs < 0) {
    throw new GatewayConfigError('graceMs', 'must be a number of milliseconds >= 0, e.g. 10_000');
  }
  return graceMs;
}

/**
 * What `config.rejected` says: a configuration error's message (the field path and what is
 * wrong; those messages never carry a secret), else only the kind of error.
 */
function rejectionMessage(err: unknown): string {
  if (err instanceof GatewayConfigError) return err.message;
  return `the configuration could not be compiled (${err instanceof Error ? err.name : typeof err})`;
}
