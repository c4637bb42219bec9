import type { RateLimitDecision } from '../types.js';
import { admitted, refused } from './decision.js';

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
  if (count + cost <= limit) return admitted(policy, limit, limit - count - cost, resetMs);
  // In the next window the count starts at 0.
  return refused(policy, limit, windowMs, cost, resetMs, resetMs);
}
