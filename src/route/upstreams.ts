import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { type EmitEvent, isListening } from '../events.js';
import type { ResolvedRouteOptions } from '../schema/route.js';
import { SendQueue } from './send-queue.js';
import { type HealthListener, TargetPool, type UpstreamTarget } from './targets.js';

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
  /** Plain requests to `target`: the route's `proxy.agent`, else the route's keep-alive agent for its protocol. */
  agentFor(target: UpstreamTarget): HttpAgent;
  /**
   * WebSocket handshakes: the route's `proxy.agent`, else `false` (a connection of their own:
   * it leaves any pool once upgraded, and a stale pooled socket would fail the handshake).
   */
  readonly tunnelAgent: HttpAgent | false;
  /**
   * One agent for every target, as http-proxy-middleware takes it: `proxy.agent`, else the
   * route's keep-alive agent; `undefined` when the targets mix `http:` and `https:` (then
   * http-proxy-middleware uses its own keep-alive agents).
   */
  readonly sharedAgent: HttpAgent | undefined;
}

/**
 * The forwarding resources a gateway owns outside any one route: the send
 * queue every route of the gateway shares, and the factory of each route's
 * {@link RouteUpstreams}. `close()` destroys every agent it created (never an
 * agent the user passed in `proxy.agent`). A standalone `route()` owns one of
 * its own. (Live configuration updates will look up a route's upstreams here by
 * its identity — name, else path — so its pool and agents survive an update.)
 *
 * @example
 * const upstreams = new Upstreams(emit);
 * const route = new RouteProxy(resolved, ctx, upstreams.forRoute(resolved));
 * await upstreams.close();
 */
export class Upstreams {
  readonly queue = new SendQueue();
  private readonly agents: HttpAgent[] = [];

  constructor(private readonly emit: EmitEvent) {}

  /** Builds the upstreams of one route (options already validated). */
  forRoute(options: ResolvedRouteOptions): RouteUpstreams {
    const pool = new TargetPool(options.targets, {
      onHealth: this.healthReporter(options),
    });
    // Validated as an object; http-proxy-middleware types `agent` as any.
    const userAgent = options.proxy.agent as HttpAgent | undefined;
    let http: HttpAgent | null = null;
    let https: HttpsAgent | null = null;
    const own = <T extends HttpAgent>(agent: T): T => {
      this.agents.push(agent);
      return agent;
    };
    // Without an agent of the user's, one keep-alive agent per protocol the targets use.
    for (const target of userAgent === undefined ? pool.targets : []) {
      if (target.https)
        https ??= own(new HttpsAgent({ keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS }));
      else http ??= own(new HttpAgent({ keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS }));
    }
    const httpAgent = http;
    const httpsAgent = https;
    return {
      pool,
      queue: this.queue,
      agentFor:
        userAgent !== undefined
          ? () => userAgent
          : (target) => (target.https ? httpsAgent : httpAgent) as HttpAgent,
      tunnelAgent: userAgent ?? false,
      sharedAgent:
        userAgent ??
        (httpAgent !== null && httpsAgent !== null
          ? undefined
          : (httpAgent ?? httpsAgent ?? undefined)),
    };
  }

  private healthReporter(options: ResolvedRouteOptions): HealthListener {
    const route = options.name ?? options.path;
    const emit = this.emit;
    return (target, healthy, reason) => {
      if (!isListening(emit, 'target.health')) return;
      emit({ type: 'target.health', route, target: target.display, healthy, reason });
    };
  }

  async close(): Promise<void> {
    for (const agent of this.agents) agent.destroy();
    this.agents.length = 0;
  }
}
