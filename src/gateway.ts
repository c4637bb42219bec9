import type { ServerResponse } from 'node:http';
import { GatewayConfigError } from './errors.js';
import { ClosedGateway, type ServesRequests } from './gateway/closed-gateway.js';
import { configHash } from './gateway/config-hash.js';
import { GatewayResources } from './gateway/resources.js';
import { compileSnapshot, type GatewaySnapshot } from './gateway/snapshot.js';
import {
  type GatewayCloseOptions,
  type GatewayConfig,
  parseCloseOptions,
  parseGatewayConfig,
} from './schema/gateway.js';
import type { GatewayMiddleware, GatewayRequest, NextFunction } from './types.js';

export type {
  GatewayCloseOptions,
  GatewayConfig,
  GatewayRouteOptions,
  RouteAuth,
} from './schema/gateway.js';

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
    // Validated whole, synchronously: every mistake throws GatewayConfigError here.
    snapshot = compileSnapshot(parseGatewayConfig(config), configHash(config), resources, 1);
  } catch (err) {
    // Release what was already opened before the mistake was found.
    resources.close().catch(() => {});
    throw err;
  }
  snapshot.swappedIn();
  snapshot.emitWarnings();
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
      compiled = compileSnapshot(
        parseGatewayConfig(next),
        configHash(next),
        resources,
        latest.version + 1,
      );
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
    compiled.emitWarnings();
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
        graceMs = parseCloseOptions(options).graceMs;
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
 * What `config.rejected` says: a configuration error's message (the field path and what is
 * wrong; those messages never carry a secret), else only the kind of error.
 */
function rejectionMessage(err: unknown): string {
  if (err instanceof GatewayConfigError) return err.message;
  return `the configuration could not be compiled (${err instanceof Error ? err.name : typeof err})`;
}
