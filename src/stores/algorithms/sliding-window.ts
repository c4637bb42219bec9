import type { RateLimitDecision } from '../types.js';
import { admitted, refused } from './decision.js';

/**
 * Sliding window arithmetic over an exact log: one timestamp per admitted
 * unit, at most `limit` of them, oldest first. A unit admitted at `t` counts
 * while `now - windowMs < t`, so no interval of length `windowMs` ever holds
 * more than `limit` units (no estimate, error 0). Memory is O(limit) per key.
 * Shared by MemoryStore and mirrored by RedisStore's Lua script.
 */

/**
 * Decides whether `cost` fits given the log's `live` entries (already trimmed
 * to those newer than `now - windowMs`), its newest timestamp, and the
 * timestamp of the entry that must expire first for `cost` to fit (the one
 * `limit - cost` places from the newest, counted from 0).
 *
 * @example
 * slidingWindowDecide('s', 3, 1000, live, log.newest(), log.fromNewest(3 - cost), now, cost);
 */
export function slidingWindowDecide(
  policy: string,
  limit: number,
  windowMs: number,
  live: number,
  newest: number,
  blocking: number,
  now: number,
  cost: number,
): RateLimitDecision {
  if (live + cost <= limit) {
    const last = cost > 0 ? now : newest;
    const resetMs = live + cost > 0 ? last + windowMs - now : 0;
    return admitted(policy, limit, limit - live - cost, resetMs);
  }
  return refused(policy, limit, windowMs, cost, newest + windowMs - now, blocking + windowMs - now);
}

/**
 * The log itself: timestamps oldest first in a plain number array (unboxed
 * doubles) with a moving head, compacted as it drains.
 *
 * @example
 * const log = new SlidingLog(); log.record(now, 1); log.trim(now - windowMs); // 1
 */
export class SlidingLog {
  times: number[] = [];
  head = 0;

  /** Drops the entries at or before `cutoff` (`now - windowMs`); returns how many stay. */
  trim(cutoff: number): number {
    const times = this.times;
    let head = this.head;
    const end = times.length;
    while (head < end && (times[head] as number) <= cutoff) head++;
    if (head === end) {
      if (end > 0) times.length = 0;
      head = 0;
    } else if (head > 32 && head * 2 > end) {
      times.splice(0, head);
      head = 0;
    }
    this.head = head;
    return times.length - head;
  }

  /** The newest timestamp (meaningful when the log is not empty). */
  newest(): number {
    return this.times.length > 0 ? (this.times[this.times.length - 1] as number) : 0;
  }

  /** The timestamp `index` places back from the newest (0 = newest). */
  fromNewest(index: number): number {
    return this.times[this.times.length - 1 - index] ?? 0;
  }

  /**
   * Adds `cost` entries stamped `now`: appended, or (should the clock have stepped back)
   * inserted where they keep the log in order. Each entry is stamped exactly `now`, so a
   * refund can name the entries a charge added by its time.
   */
  record(now: number, cost: number): void {
    const times = this.times;
    const end = times.length;
    if (end === this.head || (times[end - 1] as number) <= now) {
      for (let i = 0; i < cost; i++) times.push(now);
      return;
    }
    let at = end;
    while (at > this.head && (times[at - 1] as number) > now) at--;
    const later = times.splice(at);
    for (let i = 0; i < cost; i++) times.push(now);
    for (let i = 0; i < later.length; i++) times.push(later[i] as number);
  }

  /**
   * Removes up to `cost` live entries stamped `stamp` (the ones a charge at that time
   * added; entries of one stamp are interchangeable). Returns how many were removed.
   *
   * @example
   * log.record(now, 2); log.remove(now, 2); // 2
   */
  remove(stamp: number, cost: number): number {
    const times = this.times;
    let last = times.length;
    while (last > this.head && (times[last - 1] as number) > stamp) last--;
    let first = last;
    while (first > this.head && last - first < cost && times[first - 1] === stamp) first--;
    const removed = last - first;
    if (removed > 0) times.splice(first, removed);
    return removed;
  }
}
