import type { RateLimitDecision } from '../types.js';

/**
 * The decision objects the three algorithms return, built in one place so each has one shape
 * (the same fields in the same order: one hidden class for every decision a store hands back).
 */

/**
 * An admitting decision.
 *
 * @example
 * admitted('5-in-1m', 5, 4, 12_000); // { policy: '5-in-1m', allowed: true, remaining: 4, … }
 */
export function admitted(
  policy: string,
  limit: number,
  remaining: number,
  resetMs: number,
): RateLimitDecision {
  return { policy, allowed: true, limit, remaining, resetMs, retryAfterMs: 0 };
}

/**
 * A refusing decision: nothing remains, and `retryAfterMs` is `fitsAfterMs` (when the cost
 * would fit) unless the cost is above the limit, which never fits: the hint is then one window.
 *
 * @example
 * refused('5-in-1m', 5, 60_000, 1, 12_000, 12_000); // { allowed: false, retryAfterMs: 12_000, … }
 */
export function refused(
  policy: string,
  limit: number,
  windowMs: number,
  cost: number,
  resetMs: number,
  fitsAfterMs: number,
): RateLimitDecision {
  return {
    policy,
    allowed: false,
    limit,
    remaining: 0,
    resetMs,
    retryAfterMs: cost > limit ? windowMs : fitsAfterMs,
  };
}
