import { GatewayConfigError } from '../errors.js';

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
 * Where rate limit state lives. `MemoryStore` (one process) and `RedisStore`
 * (many processes) implement it; any object of this shape works.
 *
 * `consume` decides all of a request's policies at once, atomically: either
 * every policy admits `cost` and all are charged, or none is charged. It
 * returns one decision per policy, in the same order, synchronously or as a
 * promise. `reset` forgets the key under every policy.
 *
 * @example
 * const store: RateLimitStore = new MemoryStore();
 * const [decision] = await store.consume('ip:203.0.113.7', [policy], 1);
 */
export interface RateLimitStore {
  consume(
    key: string,
    policies: readonly Policy[],
    cost: number,
  ): RateLimitDecision[] | Promise<RateLimitDecision[]>;
  reset(key: string): Promise<void> | void;
  close?(): Promise<void>;
}

/**
 * The time in milliseconds, e.g. `Date.now`; injectable so tests can drive the arithmetic.
 *
 * @example
 * new MemoryStore({ clock: () => fakeNow });
 */
export type Clock = () => number;

/**
 * Checks at construction that `value` has the shape of a {@link RateLimitStore},
 * so a wrong object fails now rather than on the first request.
 *
 * @example
 * assertRateLimitStore(options.store, 'rateLimit.store');
 */
export function assertRateLimitStore(value: unknown, field: string): RateLimitStore {
  if (value === null || typeof value !== 'object') {
    throw new GatewayConfigError(
      field,
      'must be a rate limit store: an object with consume(key, policies, cost) and reset(key), e.g. new MemoryStore()',
      'ERR_CONFIG_INVALID_STORE',
    );
  }
  const store = value as Record<string, unknown>;
  if (typeof store.consume !== 'function') {
    throw new GatewayConfigError(
      field,
      'must have a consume(key, policies, cost) method (e.g. new MemoryStore() or new RedisStore({ client }))',
      'ERR_CONFIG_INVALID_STORE',
    );
  }
  if (typeof store.reset !== 'function') {
    throw new GatewayConfigError(
      field,
      'must have a reset(key) method',
      'ERR_CONFIG_INVALID_STORE',
    );
  }
  if (store.close !== undefined && typeof store.close !== 'function') {
    throw new GatewayConfigError(
      field,
      'close, when present, must be a method',
      'ERR_CONFIG_INVALID_STORE',
    );
  }
  return value as RateLimitStore;
}
