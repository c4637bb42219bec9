import type { Agent as HttpAgent } from 'node:http';
import type { ResolvedTarget } from '../schema/route.js';

/**
 * How long a target that failed to connect (or timed out) is skipped: 10 s.
 *
 * @example
 * new TargetPool(targets, { cooldownMs: TARGET_COOLDOWN_MS });
 */
export const TARGET_COOLDOWN_MS = 10_000;

/**
 * Why a target stopped or started taking traffic, as `target.health` events say it.
 *
 * @example
 * const reason: HealthReason = 'connect_failed';
 */
export type HealthReason = 'connect_failed' | 'timeout' | 'cooldown_elapsed';

/**
 * Told of every passive-health transition of a pool's targets (only installed when someone
 * listens to events).
 *
 * @example
 * const onHealth: HealthListener = (target, healthy, reason) => emit({ type: 'target.health', … });
 */
export type HealthListener = (
  target: UpstreamTarget,
  healthy: boolean,
  reason: HealthReason,
) => void;

/**
 * One upstream of a route, everything about it computed at construction: how
 * it is shown, where requests go, and its passive-health state. A gateway keeps
 * one per route and target URL across configuration updates (see `Upstreams`),
 * so its health outlives any one pool; its weight and balancing state belong to
 * the {@link TargetPool} that lists it.
 *
 * @example
 * new UpstreamTarget(new URL('http://u:p@a:8080/v1/')).display; // 'http://a:8080/v1'
 */
export class UpstreamTarget {
  /** The URL without credentials, as shown in events and on `req.gateway.route.target`. */
  readonly display: string;
  /** `Host` the upstream receives unless `preserveHost` (the URL's host and port). */
  readonly hostHeader: string;
  /** The target URL's path without its trailing slash, prepended to every forwarded path ('' for none). */
  readonly pathPrefix: string;
  readonly https: boolean;
  /** Host name or IP literal to connect to (IPv6 without brackets). */
  readonly hostname: string;
  readonly port: number;
  /** `user:password` from the URL, sent as Basic credentials; never shown anywhere. */
  readonly auth: string | undefined;
  /**
   * The same endpoint as http-proxy-middleware's `router` returns it: a detailed target, so
   * nothing parses a URL per request (`host` keeps IPv6 brackets for its redirect rewriting).
   */
  readonly proxyTarget: { protocol: string; host: string; hostname: string; port: number };
  /** Epoch ms until which the target is skipped (0 = takes traffic). */
  downUntil = 0;
  /**
   * The keep-alive agent requests to this target go through when its route has no `proxy.agent`
   * (set by `Upstreams`, which owns and destroys it); `null` otherwise.
   */
  agent: HttpAgent | null = null;

  constructor(readonly url: URL) {
    const clean = new URL(url.href);
    clean.username = '';
    clean.password = '';
    this.display = clean.href.endsWith('/') ? clean.href.slice(0, -1) : clean.href;
    this.hostHeader = url.host;
    this.pathPrefix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
    this.https = url.protocol === 'https:';
    this.hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port === '' ? (this.https ? 443 : 80) : Number(url.port);
    this.auth =
      url.username === ''
        ? undefined
        : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    this.proxyTarget = {
      protocol: url.protocol,
      host: url.hostname,
      hostname: this.hostname,
      port: this.port,
    };
  }
}

/**
 * Options of a {@link TargetPool}: the cooldown (default {@link TARGET_COOLDOWN_MS}), a clock
 * (default `Date.now`), a listener for health transitions (default none) and where each
 * target's {@link UpstreamTarget} comes from (default: a new one; a gateway passes the one it
 * keeps for the route and URL, so health survives a configuration update).
 *
 * @example
 * const options: TargetPoolOptions = { cooldownMs: 5_000, onHealth: (t, up) => {} };
 */
export interface TargetPoolOptions {
  cooldownMs?: number;
  now?: () => number;
  onHealth?: HealthListener | undefined;
  target?: (resolved: ResolvedTarget) => UpstreamTarget;
}

/**
 * The targets of one route: smooth weighted round robin (as nginx's upstream
 * module) over the targets that take traffic, and passive health. A target
 * that refuses a connection or times out is marked down for `cooldownMs` and
 * skipped, then tried again. As in nginx, a route with a single target never
 * marks it down: its failures are answered as they happen (502/504).
 *
 * Whether a target takes traffic is decided in one place, {@link TargetPool.takesTraffic};
 * outlier detection and active health checks (SPEC §12) are further signals for it.
 *
 * @example
 * const pool = new TargetPool([{ url: new URL('http://a'), weight: 3, field: 'target[0]' }]);
 * const target = pool.pick(); // null when every target is down
 */
export class TargetPool {
  readonly targets: readonly UpstreamTarget[];
  /** The weight of each target, by index. */
  private readonly weights: readonly number[];
  /** Smooth weighted round robin state of each target, by index. */
  private readonly current: number[];
  private readonly single: UpstreamTarget | null;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private readonly onHealth: HealthListener | undefined;

  constructor(targets: readonly ResolvedTarget[], options: TargetPoolOptions = {}) {
    const make = options.target ?? ((t: ResolvedTarget) => new UpstreamTarget(t.url));
    this.targets = targets.map(make);
    this.weights = targets.map((t) => t.weight);
    this.current = targets.map(() => 0);
    this.single = this.targets.length === 1 ? (this.targets[0] as UpstreamTarget) : null;
    this.cooldownMs = options.cooldownMs ?? TARGET_COOLDOWN_MS;
    // Resolved at each call, so a test clock installed later (fake `Date`) is seen.
    this.now = options.now ?? (() => Date.now());
    this.onHealth = options.onHealth;
  }

  /** The next target, or null when every target is down. */
  pick(): UpstreamTarget | null {
    if (this.single !== null) return this.single;
    const targets = this.targets;
    const weights = this.weights;
    const current = this.current;
    let best = -1;
    let total = 0;
    let time = 0;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i] as UpstreamTarget;
      if (target.downUntil !== 0) {
        time ||= this.now();
        if (!this.takesTraffic(target, time)) continue;
      }
      const weight = weights[i] as number;
      current[i] = (current[i] as number) + weight;
      total += weight;
      if (best === -1 || (current[i] as number) > (current[best] as number)) best = i;
    }
    if (best === -1) return null;
    current[best] = (current[best] as number) - total;
    return targets[best] as UpstreamTarget;
  }

  /**
   * Whether a target marked down takes traffic again at `time` (its cooldown is over); the one
   * place that decides it, and where it comes back (`target.health` `healthy: true`).
   */
  private takesTraffic(target: UpstreamTarget, time: number): boolean {
    if (target.downUntil > time) return false;
    target.downUntil = 0;
    this.onHealth?.(target, true, 'cooldown_elapsed');
    return true;
  }

  /**
   * Passive health: skip `target` for the cooldown (no-op for a route with one target). Only a
   * target that was taking traffic reports the transition; a later failure extends the cooldown.
   */
  markDown(target: UpstreamTarget, reason: Exclude<HealthReason, 'cooldown_elapsed'>): void {
    if (this.single !== null) return;
    const wasUp = target.downUntil === 0;
    target.downUntil = this.now() + this.cooldownMs;
    const index = this.targets.indexOf(target);
    if (index !== -1) this.current[index] = 0;
    if (wasUp) this.onHealth?.(target, false, reason);
  }

  /** Whole seconds until the first down target is tried again (at least 1), for `Retry-After`. */
  retryAfterSeconds(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const target of this.targets) {
      if (target.downUntil !== 0 && target.downUntil < earliest) earliest = target.downUntil;
    }
    if (earliest === Number.POSITIVE_INFINITY) return 1;
    return Math.max(1, Math.ceil((earliest - this.now()) / 1000));
  }
}
