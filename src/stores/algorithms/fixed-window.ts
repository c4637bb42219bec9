import type { RateLimitDecision } from '../types.js';

/**
 * Fixed window arithmetic, shared by MemoryStore and mirrored by RedisStore's
 * Lua script. Windows are aligned to multiples of `windowMs` since the Unix
 * epoch (a `'1d'` window starts at 00:00 UTC). State is `(start, count)`.
 */

/**
 * The start of the window that contains `now`.
 *
 * @example
 * fixedWindowStart(123_456, 60_000); // 120_000
 */
export function fixedWindowStart(now: number, windowMs: number): number {
  return now - (now % windowMs);
}

/**
 * Decides whether `cost` fits after `count` units were admitted in the window starting at `start`.
 *
 * @example
 * fixedWindowDecide('f', 3, 1000, 5000, 2, 5400, 1); // allowed, remaining 0, resetMs 600
 */
export function fixedWindowDecide(
  policy: string,
  limit: number,
  windowMs: number,
  start: number,
  count: number,
  now: number,
  cost: number,
): RateLimitDecision {
  const resetMs = start + windowMs - now;
  if (count + cost <= limit) {
    return {
      policy,
      allowed: true,
      limit,
      remaining: limit - count - cost,
      resetMs,
      retryAfterMs: 0,
    };
  }
  return {
    policy,
    allowed: false,
    limit,
    remaining: 0,
    resetMs,
    // In the next window the count starts at 0; a cost above the limit never fits.
    retryAfterMs: cost > limit ? windowMs : resetMs,
  };
}
