import type { RateLimitDecision } from '../types.js';
import { admitted, refused } from './decision.js';

/**
 * Token bucket arithmetic (GCRA-style, O(1) state), shared by MemoryStore and
 * mirrored line for line by RedisStore's Lua script. Pure: the time is passed in.
 *
 * State is `(level, at)`: `level` is the bucket's fill in token·milliseconds
 * (one unit of cost adds `windowMs`), drained continuously at `limit` per
 * millisecond since `at`. The bucket holds at most `limit * windowMs`, so a
 * fresh bucket admits `limit` units at once and refills at `limit / windowMs`
 * units per millisecond; fractions accumulate because nothing is rounded in
 * the state. Every quantity is an integer, so decisions are exact.
 */

/**
 * The level at `now`, after draining since `at`. Time running backwards drains nothing.
 *
 * @example
 * tokenBucketLevel(5 * 60_000, 0, 5, 30_000); // 150_000: half the bucket drained
 */
export function tokenBucketLevel(level: number, at: number, limit: number, now: number): number {
  const elapsed = now > at ? now - at : 0;
  const drained = level - elapsed * limit;
  return Math.max(drained, 0);
}

/**
 * Decides whether `cost` fits in a bucket at `level` (already drained to now).
 * When allowed, the new level is `level + cost * windowMs`.
 *
 * @example
 * tokenBucketDecide('5-in-1m', 5, 60_000, 0, 1); // allowed, remaining 4, resetMs 12_000
 */
export function tokenBucketDecide(
  policy: string,
  limit: number,
  windowMs: number,
  level: number,
  cost: number,
): RateLimitDecision {
  const capacity = limit * windowMs;
  const next = level + cost * windowMs;
  if (next <= capacity) {
    return admitted(
      policy,
      limit,
      Math.floor((capacity - next) / windowMs),
      Math.ceil(next / limit),
    );
  }
  const fitsAfterMs = Math.ceil((next - capacity) / limit);
  return refused(policy, limit, windowMs, cost, Math.ceil(level / limit), fitsAfterMs);
}

/**
 * Milliseconds until a bucket at `level` is empty again: the TTL of its state.
 *
 * @example
 * tokenBucketTtl(60_000, 5); // 12_000
 */
export function tokenBucketTtl(level: number, limit: number): number {
  return Math.ceil(level / limit);
}

/**
 * The stored level after giving back a charge of `cost`: `cost * windowMs` less whatever
 * of it has drained by `now` (never below empty). The state keeps its `at`: subtracting
 * from the level stored at `at` gives the same bucket at `now` as subtracting from the
 * drained level, since the amount never exceeds what is left.
 *
 * @example
 * tokenBucketRefund(3 * 60_000, 0, 5, 60_000, 0, 1); // 120_000: one unit given back
 */
export function tokenBucketRefund(
  level: number,
  at: number,
  limit: number,
  windowMs: number,
  now: number,
  cost: number,
): number {
  const left = tokenBucketLevel(level, at, limit, now);
  return level - Math.min(cost * windowMs, left);
}
