import type { ResolvedTarget } from './options.js';

/**
 * How long a target that failed to connect (or timed out) is skipped: 10 s.
 *
 * @example
 * new TargetPool(targets, TARGET_COOLDOWN_MS);
 */
export const TARGET_COOLDOWN_MS = 10_000;

/**
 * One upstream of a route, everything about it computed at construction.
 *
 * @example
 * new UpstreamTarget(new URL('http://u:p@a:8080/v1/'), 1).display; // 'http://a:8080/v1'
 */
export class UpstreamTarget {
  /** The URL without credentials, as shown in events and on `req.gateway.route.target`. */
  readonly display: string;
  /** `Host` the upstream receives unless `preserveHost` (the URL's host and port). */
  readonly hostHeader: string;
  /** The target URL's path without its trailing slash, prepended to every forwarded path ('' for none). */
  readonly pathPrefix: string;
  readonly weight: number;
  /** Smooth weighted round robin state. */
  current = 0;
  /** Epoch ms until which the target is skipped (0 = up). */
  downUntil = 0;

  constructor(
    readonly url: URL,
    weight: number,
  ) {
    const clean = new URL(url.href);
    clean.username = '';
    clean.password = '';
    this.display = clean.href.endsWith('/') ? clean.href.slice(0, -1) : clean.href;
    this.hostHeader = url.host;
    this.pathPrefix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
    this.weight = weight;
  }
}

/**
 * The targets of one route: smooth weighted round robin (as nginx's upstream
 * module) over the targets that are up, and passive health. A target that
 * refuses a connection or times out is marked down for `cooldownMs` and
 * skipped, then tried again. As in nginx, a route with a single target never
 * marks it down: its failures are answered as they happen (502/504).
 *
 * @example
 * const pool = new TargetPool([{ url: new URL('http://a'), weight: 3, field: 'target[0]' }]);
 * const target = pool.pick(); // null when every target is down
 */
export class TargetPool {
  readonly targets: readonly UpstreamTarget[];
  private readonly single: UpstreamTarget | null;

  constructor(
    targets: readonly ResolvedTarget[],
    private readonly cooldownMs: number = TARGET_COOLDOWN_MS,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.targets = targets.map((t) => new UpstreamTarget(t.url, t.weight));
    this.single = this.targets.length === 1 ? (this.targets[0] as UpstreamTarget) : null;
  }

  /** The next target, or null when every target is down. */
  pick(): UpstreamTarget | null {
    if (this.single !== null) return this.single;
    const targets = this.targets;
    let best: UpstreamTarget | null = null;
    let total = 0;
    let time = 0;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i] as UpstreamTarget;
      if (target.downUntil !== 0) {
        time ||= this.now();
        if (target.downUntil > time) continue;
        target.downUntil = 0; // cooled down: tried again
      }
      target.current += target.weight;
      total += target.weight;
      if (best === null || target.current > best.current) best = target;
    }
    if (best !== null) best.current -= total;
    return best;
  }

  /** Passive health: skip `target` for the cooldown (no-op for a route with one target). */
  markDown(target: UpstreamTarget): void {
    if (this.single !== null) return;
    target.downUntil = this.now() + this.cooldownMs;
    target.current = 0;
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
