import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { type EmitEvent, isListening } from '../events.js';
import { type Lease, Registry } from '../gateway/registry.js';
import type { ResolvedRouteOptions } from '../schema/route.js';
import { SendQueue } from './send-queue.js';
import { type HealthListener, TargetPool, UpstreamTarget } from './targets.js';

/** Free keep-alive sockets are closed after this, below Node's default server keepAliveTimeout (5 s). */
const FREE_SOCKET_TIMEOUT_MS = 4_000;

/**
 * What one route forwards with. It is given to the route (made by
 * {@link Upstreams.forRoute}), not built by it, so that it can outlive one
 * compiled configuration: the targets with their passive-health state, the
 * keep-alive agents, and the send queue of the gateway.
 *
 * @example
 * const upstreams = gatewayUpstreams.forRoute(resolved);
 * const target = upstreams.pool.pick();
 */
export interface RouteUpstreams {
  readonly pool: TargetPool;
  /** The gateway's end-of-turn send queue. */
  readonly queue: SendQueue;
  /** Plain requests to `target`: the route's `proxy.agent`, else the target's keep-alive agent. */
  agentFor(target: UpstreamTarget): HttpAgent;
  /**
   * WebSocket handshakes: the route's `proxy.agent`, else `false` (a connection of their own:
   * it leaves any pool once upgraded, and a stale pooled socket would fail the handshake).
   */
  readonly tunnelAgent: HttpAgent | false;
  /**
   * One agent for every target, as http-proxy-middleware takes it: `proxy.agent`, else the
   * first target's keep-alive agent; `undefined` when the targets mix `http:` and `https:`
   * (then http-proxy-middleware uses its own keep-alive agents).
   */
  readonly sharedAgent: HttpAgent | undefined;
}

/**
 * The forwarding resources a gateway owns outside any one configuration: the
 * send queue every route of the gateway shares, and one entry per route and
 * target URL (the route by its `name`, else its `path`) holding the target's
 * passive-health state and its keep-alive agent. {@link Upstreams.forRoute}
 * builds a route's {@link RouteUpstreams} from those entries, so a target that
 * is still a target of the same route after a configuration update keeps its
 * health and its pooled connections. Each entry is held by the leases of the
 * configurations that use it and released (its agent destroyed) with the last;
 * `close()` destroys every agent it created (never an agent the user passed in
 * `proxy.agent`). A standalone `route()` owns one of its own.
 *
 * @example
 * const upstreams = new Upstreams(emit);
 * const route = new RouteProxy(resolved, ctx, upstreams.forRoute(resolved, lease));
 * await upstreams.close();
 */
export class Upstreams {
  readonly queue = new SendQueue();
  private readonly endpoints = new Registry<UpstreamTarget>(destroyAgent);

  /** `emit`: where `target.health` goes unless {@link Upstreams.forRoute} is given another. */
  constructor(private readonly emit: EmitEvent) {}

  /**
   * Builds the upstreams of one route (options already validated). The route's targets are
   * held by `lease` (without one, until `close()`); `emit` receives its `target.health` events.
   */
  forRoute(
    options: ResolvedRouteOptions,
    lease?: Lease,
    emit: EmitEvent = this.emit,
  ): RouteUpstreams {
    // The schema checked it is an object; http-proxy-middleware leaves `agent` untyped, so the
    // cast names what Node's request takes.
    const userAgent = options.proxy.agent as HttpAgent | undefined;
    const routeKey = options.name ?? options.path;
    const pool = new TargetPool(options.targets, {
      onHealth: healthReporter(routeKey, emit),
      target: (resolved) => {
        const target = this.endpoints.acquire(
          `${routeKey}\n${resolved.url.href}`,
          () => new UpstreamTarget(resolved.url),
          lease,
        );
        // Without an agent of the user's, one keep-alive agent per target, made once and kept
        // with the target's entry.
        if (userAgent === undefined && target.agent === null) {
          target.agent = target.https
            ? new HttpsAgent({ keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS })
            : new HttpAgent({ keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS });
        }
        return target;
      },
    });
    const first = pool.targets[0] as UpstreamTarget;
    const oneProtocol = pool.targets.every((target) => target.https === first.https);
    return {
      pool,
      queue: this.queue,
      agentFor: userAgent !== undefined ? () => userAgent : agentOfTarget,
      tunnelAgent: userAgent ?? false,
      // Node's agents pool by host and port, so the first target's agent serves them all.
      sharedAgent: userAgent ?? (oneProtocol ? (first.agent ?? undefined) : undefined),
    };
  }

  /** Targets (with their agents) held now, for tests and diagnostics. */
  get size(): number {
    return this.endpoints.size;
  }

  async close(): Promise<void> {
    await this.endpoints.close();
  }
}

function agentOfTarget(target: UpstreamTarget): HttpAgent {
  return target.agent as HttpAgent;
}

function destroyAgent(target: UpstreamTarget): void {
  target.agent?.destroy();
}

function healthReporter(route: string, emit: EmitEvent): HealthListener {
  return (target, healthy, reason) => {
    if (!isListening(emit, 'target.health')) return;
    emit({ type: 'target.health', route, target: target.display, healthy, reason });
  };
}
