import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixedWindowDecide, fixedWindowStart } from '../../src/stores/algorithms/fixed-window.js';
import { SlidingLog, slidingWindowDecide } from '../../src/stores/algorithms/sliding-window.js';
import {
  tokenBucketDecide,
  tokenBucketLevel,
  tokenBucketRefund,
  tokenBucketTtl,
} from '../../src/stores/algorithms/token-bucket.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import type { Algorithm, Policy } from '../../src/stores/types.js';

describe('token bucket arithmetic', () => {
  it('a fresh bucket holds `limit` units; each costs one emission interval', () => {
    const d1 = tokenBucketDecide('p', 5, 60_000, 0, 1);
    expect(d1).toEqual({
      policy: 'p',
      allowed: true,
      limit: 5,
      remaining: 4,
      resetMs: 12_000,
      retryAfterMs: 0,
    });
    const full = tokenBucketDecide('p', 5, 60_000, 5 * 60_000, 1);
    expect(full).toMatchObject({
      allowed: false,
      remaining: 0,
      resetMs: 60_000,
      retryAfterMs: 12_000,
    });
  });

  it('drains continuously: fractions accumulate, nothing is rounded in the state', () => {
    // limit 3 per 1000 ms: one unit every 333.3 ms.
    let level = 3 * 1000; // full
    let at = 0;
    level = tokenBucketLevel(level, at, 3, 200); // 200 ms: 0.6 unit back
    at = 200;
    expect(tokenBucketDecide('p', 3, 1000, level, 1).allowed).toBe(false);
    level = tokenBucketLevel(level, at, 3, 334); // another 134 ms: 1.002 units back in total
    expect(tokenBucketDecide('p', 3, 1000, level, 1).allowed).toBe(true);
  });

  it('half a window gives half the bucket back', () => {
    const level = tokenBucketLevel(10 * 60_000, 0, 10, 30_000);
    expect(tokenBucketDecide('p', 10, 60_000, level, 5).allowed).toBe(true);
    expect(tokenBucketDecide('p', 10, 60_000, level, 6).allowed).toBe(false);
  });

  it('retryAfterMs is exactly when the cost fits again', () => {
    const level = 4 * 1000 + 1; // limit 4 / 1000 ms, overfull by one token·ms
    const d = tokenBucketDecide('p', 4, 1000, level, 1);
    expect(d.allowed).toBe(false);
    const drained = tokenBucketLevel(level, 0, 4, d.retryAfterMs);
    expect(tokenBucketDecide('p', 4, 1000, drained, 1).allowed).toBe(true);
    const early = tokenBucketLevel(level, 0, 4, d.retryAfterMs - 1);
    expect(tokenBucketDecide('p', 4, 1000, early, 1).allowed).toBe(false);
  });

  it('a clock stepping back drains nothing', () => {
    expect(tokenBucketLevel(500, 1_000, 1, 900)).toBe(500);
    expect(tokenBucketTtl(500, 2)).toBe(250);
  });
});

describe('fixed window arithmetic', () => {
  it('aligns windows to multiples of the window since the epoch', () => {
    expect(fixedWindowStart(123_456, 60_000)).toBe(120_000);
    expect(fixedWindowStart(120_000, 60_000)).toBe(120_000);
  });

  it('admits up to limit per window and retries at the next window', () => {
    expect(fixedWindowDecide('f', 3, 1000, 5000, 2, 5400, 1)).toMatchObject({
      allowed: true,
      remaining: 0,
      resetMs: 600,
    });
    expect(fixedWindowDecide('f', 3, 1000, 5000, 3, 5400, 1)).toMatchObject({
      allowed: false,
      retryAfterMs: 600,
    });
  });
});

describe('sliding window log', () => {
  it('trims expired entries and finds the blocking one', () => {
    const log = new SlidingLog();
    log.record(100, 1);
    log.record(200, 2);
    log.record(300, 1);
    expect(log.trim(100)).toBe(3); // the entry at 100 is expired at cutoff 100
    expect(log.newest()).toBe(300);
    expect(log.fromNewest(2)).toBe(200);
    const d = slidingWindowDecide('s', 3, 1000, 3, 300, log.fromNewest(2), 1050, 1);
    expect(d).toMatchObject({ allowed: false, retryAfterMs: 150, resetMs: 250 });
  });

  it('stamps each entry with its own time, kept in order should the clock step back', () => {
    const log = new SlidingLog();
    log.record(500, 1);
    log.record(400, 2);
    log.record(450, 1);
    expect(log.times).toEqual([400, 400, 450, 500]);
  });

  it('remove takes out exactly the entries of one stamp, at most cost of them', () => {
    const log = new SlidingLog();
    log.record(100, 2);
    log.record(200, 3);
    log.record(300, 1);
    expect(log.remove(200, 2)).toBe(2);
    expect(log.times).toEqual([100, 100, 200, 300]);
    expect(log.remove(200, 5)).toBe(1);
    expect(log.remove(250, 1)).toBe(0);
    expect(log.times).toEqual([100, 100, 300]);
    // Entries already trimmed away are not there to remove.
    log.trim(100);
    expect(log.remove(100, 2)).toBe(0);
    expect(log.trim(100)).toBe(1);
  });
});

describe('token bucket refund', () => {
  it('gives back cost × window, never more than the bucket holds now', () => {
    // Three units charged at t=0 in a 5-per-minute bucket: level 180_000 unit·ms.
    expect(tokenBucketRefund(180_000, 0, 5, 60_000, 0, 1)).toBe(120_000);
    expect(tokenBucketRefund(180_000, 0, 5, 60_000, 0, 3)).toBe(0);
    // 30 s later 150_000 unit·ms have drained: 30_000 left, all of it is given back for cost 1.
    expect(tokenBucketRefund(180_000, 0, 5, 60_000, 30_000, 1)).toBe(150_000);
    expect(
      tokenBucketLevel(tokenBucketRefund(180_000, 0, 5, 60_000, 30_000, 1), 0, 5, 30_000),
    ).toBe(0);
    // An empty bucket gets nothing back.
    expect(tokenBucketRefund(60_000, 0, 5, 60_000, 20_000, 1)).toBe(60_000);
  });
});

/** A MemoryStore driven by a fake clock: the arithmetic end to end, deterministic. */
function clockedStore(): { store: MemoryStore; tick(ms: number): void } {
  let now = 1_700_000_000_000;
  const store = new MemoryStore({ clock: () => now });
  return {
    store,
    tick(ms) {
      now += ms;
    },
  };
}

describe.each<Algorithm>(['token-bucket', 'fixed-window', 'sliding-window'])(
  'property: %s never admits more than limit + refill',
  (algorithm) => {
    it('over any sequence of requests, admissions in any window never exceed what the algorithm allows', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 8 }),
          fc.integer({ min: 10, max: 500 }),
          fc.array(
            fc.record({
              gap: fc.integer({ min: 0, max: 200 }),
              cost: fc.integer({ min: 0, max: 3 }),
            }),
            {
              maxLength: 60,
            },
          ),
          (limit, windowMs, steps) => {
            const { store, tick } = clockedStore();
            const policy: Policy = { name: 'p', limit, windowMs, algorithm };
            let now = 0;
            const admitted: Array<{ at: number; cost: number }> = [];
            for (const step of steps) {
              tick(step.gap);
              now += step.gap;
              const [d] = store.consume('k', [policy], step.cost);
              if (d?.allowed) admitted.push({ at: now, cost: step.cost });
              expect(d?.remaining).toBeGreaterThanOrEqual(0);
              expect(d?.remaining).toBeLessThanOrEqual(limit);
            }
            void store.close();
            // In any interval (t - window, t]: sliding window ≤ limit; token bucket ≤ limit + refill
            // within the interval (limit · window / window = limit more); fixed window ≤ 2 · limit.
            const bound = algorithm === 'sliding-window' ? limit : 2 * limit;
            for (const a of admitted) {
              const inWindow = admitted
                .filter((b) => b.at > a.at - windowMs && b.at <= a.at)
                .reduce((sum, b) => sum + b.cost, 0);
              expect(inWindow).toBeLessThanOrEqual(bound);
            }
          },
        ),
        { numRuns: 200 },
      );
    });
  },
);

describe('algorithms through MemoryStore with an injected clock', () => {
  it('token bucket: refill of one unit per window/limit, exactly', () => {
    const { store, tick } = clockedStore();
    const p: Policy = { name: 'tb', limit: 4, windowMs: 1000, algorithm: 'token-bucket' };
    for (let i = 0; i < 4; i++) expect(store.consume('k', [p], 1)[0]?.allowed).toBe(true);
    const [refused] = store.consume('k', [p], 1);
    expect(refused?.retryAfterMs).toBe(250);
    tick(249);
    expect(store.consume('k', [p], 1)[0]?.allowed).toBe(false);
    tick(1);
    expect(store.consume('k', [p], 1)[0]).toMatchObject({ allowed: true, remaining: 0 });
    tick(1000);
    expect(store.consume('k', [p], 1)[0]).toMatchObject({
      allowed: true,
      remaining: 3,
      resetMs: 250,
    });
    void store.close();
  });

  it('sliding window: retry exactly when the oldest entry leaves the window', () => {
    const { store, tick } = clockedStore();
    const p: Policy = { name: 'sw', limit: 2, windowMs: 1000, algorithm: 'sliding-window' };
    store.consume('k', [p], 1);
    tick(300);
    store.consume('k', [p], 1);
    tick(100);
    const [refused] = store.consume('k', [p], 1);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 600, resetMs: 900 });
    tick(599);
    expect(store.consume('k', [p], 1)[0]?.allowed).toBe(false);
    tick(1);
    expect(store.consume('k', [p], 1)[0]).toMatchObject({ allowed: true, remaining: 0 });
    void store.close();
  });

  it('fixed window: a burst at the boundary is allowed (the documented trade-off)', () => {
    const { store, tick } = clockedStore(); // 1_700_000_000_000 is a multiple of 1000
    const p: Policy = { name: 'fw', limit: 2, windowMs: 1000, algorithm: 'fixed-window' };
    tick(999);
    expect(store.consume('k', [p], 2)[0]?.allowed).toBe(true);
    tick(1);
    expect(store.consume('k', [p], 2)[0]).toMatchObject({ allowed: true, resetMs: 1000 });
    void store.close();
  });
});
