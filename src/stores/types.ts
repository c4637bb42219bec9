/**
 * A rate limiting algorithm (see `rateLimit({ algorithm })`). Default `'token-bucket'`.
 *
 * @example
 * rateLimit({ limit: 100, window: '1m', algorithm: 'sliding-window' });
 */
export type Algorithm = 'token-bucket' | 'fixed-window' | 'sliding-window';

/**
 * One rate limit policy as a store sees it. Counters are namespaced by `name`
 * (and by `algorithm`), so policies with different names never share state.
 *
 * @example
 * const policy: Policy = { name: '5-in-1m', limit: 5, windowMs: 60_000, algorithm: 'token-bucket' };
 */
export interface Policy {
  /** Shown in headers and problem bodies; namespaces the counters. */
  readonly name: string;
  /** Units (requests, or cost units) per window; the bucket's capacity. A positive integer. */
  readonly limit: number;
  /** The window in milliseconds. A positive integer. */
  readonly windowMs: number;
  readonly algorithm: Algorithm;
}

/**
 * The outcome of one rate limit policy for one request, as a store answers it
 * and as `req.gateway.rateLimit` holds it.
 *
 * @example
 * const d: RateLimitDecision = { policy: '5-in-1m', allowed: true, limit: 5, remaining: 4, resetMs: 12_000, retryAfterMs: 0 };
 */
export interface RateLimitDecision {
  /** The policy's name, e.g. `'5-in-1m'`. */
  policy: string;
  allowed: boolean;
  limit: number;
  /** Units left after this request (0 when refused). */
  remaining: number;
  /** Milliseconds until the policy is fully replenished (its window resets). */
  resetMs: number;
  /** Milliseconds until a request of the same cost can succeed (0 when allowed). */
  retryAfterMs: number;
}

/**
 * What a store needs to give one charge back exactly (see {@link RateLimitStore.refund}):
 * the caller passes a fresh, empty receipt to `consume`, the store writes into `value`
 * when it charges (MemoryStore and RedisStore: the store's own time of the charge, which
 * names the fixed window and the sliding-log entries it added), and the caller hands the
 * same receipt to `refund`. Opaque to everyone but the store that filled it. Default: none.
 *
 * @example
 * const receipt: ChargeReceipt = {};
 * const decisions = await store.consume(key, policies, 1, receipt);
 * if (answeredTooLate && decisions.every((d) => d.allowed)) await store.refund?.(key, policies, 1, receipt);
 */
export interface ChargeReceipt {
  /** Written by the store's `consume`; `undefined` until it charged. */
  value?: unknown;
}

/**
 * Where rate limit state lives. `MemoryStore` (one process) and `RedisStore`
 * (many processes) implement it; any object of this shape works.
 *
 * `consume` decides all of a request's policies at once, atomically: either
 * every policy admits `cost` and all are charged, or none is charged. It
 * returns one decision per policy, in the same order, synchronously or as a
 * promise. `reset` forgets the key under every policy.
 *
 * `refund` is optional: the limiter calls it when a store answered later than
 * `storeTimeout`, the request was already answered as a store failure, and the
 * late answer charged it (every policy allowed, cost above 0). A store without
 * it leaves such requests charged.
 *
 * @example
 * const store: RateLimitStore = new MemoryStore();
 * const [decision] = await store.consume('ip:203.0.113.7', [policy], 1);
 */
export interface RateLimitStore {
  /**
   * Decides and charges every policy at once. `receipt`, when given, is empty and this
   * call's own: a store that implements `refund` writes into it what that needs.
   */
  consume(
    key: string,
    policies: readonly Policy[],
    cost: number,
    receipt?: ChargeReceipt,
  ): RateLimitDecision[] | Promise<RateLimitDecision[]>;
  reset(key: string): Promise<void> | void;
  close?(): Promise<void>;
  /**
   * Optional. Gives back the charge that `consume(key, policies, cost, receipt)` made,
   * as exactly as the algorithm allows, and at most once per receipt: the state ends up
   * as if that request had not been counted. Called with the same arguments and the
   * receipt `consume` filled; a receipt it did not fill (`value` undefined) gives back
   * nothing. MemoryStore and RedisStore: a token bucket gets `cost × window` back (never
   * more than the bucket holds now: what drained since is gone either way), a fixed
   * window its `cost` only if the charge was in the window still current, and a sliding
   * log loses the very entries the charge added.
   */
  refund?(
    key: string,
    policies: readonly Policy[],
    cost: number,
    receipt: ChargeReceipt,
  ): void | Promise<void>;
}

/**
 * The time in milliseconds, e.g. `Date.now`; injectable so tests can drive the arithmetic.
 *
 * @example
 * new MemoryStore({ clock: () => fakeNow });
 */
export type Clock = () => number;
