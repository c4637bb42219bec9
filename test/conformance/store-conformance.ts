import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Algorithm, ChargeReceipt, Policy, RateLimitStore } from '../../src/stores/types.js';
import type { RateLimitDecision } from '../../src/types.js';
import { awayFromMinuteBoundary } from '../helpers/minute-boundary.js';

/** What the conformance suite needs from a store under test. */
export interface StoreHarness {
  store: RateLimitStore;
  /** TTLs (ms) of every key the store holds for `key`; omitted for stores without TTLs. */
  ttls?: (key: string) => Promise<number[]>;
  close(): Promise<void>;
}

/** Real-time tests are retried: a loaded machine can stall a timer by more than their margins. */
const TIMING = { retry: 2 };

export const ALL_ALGORITHMS: Algorithm[] = ['token-bucket', 'fixed-window', 'sliding-window'];

function policy(
  algorithm: Algorithm,
  limit: number,
  windowMs: number,
  name = `${algorithm}-${limit}-${windowMs}`,
): Policy {
  return { name, limit, windowMs, algorithm };
}

/**
 * The one store conformance suite: every store (MemoryStore, RedisStore with
 * each client) must pass it unchanged. Real time, short windows.
 */
export function runStoreConformance(label: string, open: () => Promise<StoreHarness>): void {
  describe(`store conformance: ${label}`, () => {
    let harness: StoreHarness;
    let n = 0;
    const freshKey = (tag: string) => `ip:conf-${tag}-${process.pid}-${Date.now()}-${n++}`;
    const consume = async (key: string, policies: Policy[], cost = 1, receipt?: ChargeReceipt) =>
      await harness.store.consume(key, policies, cost, receipt);
    /** Consumes with a fresh receipt; resolves with the decisions and the receipt. */
    const charge = async (key: string, policies: Policy[], cost = 1) => {
      const receipt: ChargeReceipt = {};
      const decisions = await consume(key, policies, cost, receipt);
      return { decisions, receipt };
    };
    const refund = async (
      key: string,
      policies: Policy[],
      cost: number,
      receipt: ChargeReceipt,
    ) => {
      const store = harness.store;
      if (store.refund === undefined) throw new Error('this store has no refund');
      await store.refund(key, policies, cost, receipt);
    };

    beforeAll(async () => {
      harness = await open();
    });
    beforeEach(awayFromMinuteBoundary);
    afterAll(async () => {
      await harness?.close();
    });

    describe.each(ALL_ALGORITHMS)('%s', (algorithm) => {
      it('admits exactly `limit` sequential requests, counting remaining down, then refuses', async () => {
        const key = freshKey('seq');
        const p = policy(algorithm, 5, 60_000);
        const remaining: number[] = [];
        for (let i = 0; i < 5; i++) {
          const [d] = await consume(key, [p]);
          expect(d?.allowed).toBe(true);
          expect(d?.policy).toBe(p.name);
          expect(d?.limit).toBe(5);
          expect(d?.retryAfterMs).toBe(0);
          remaining.push(d?.remaining ?? -1);
        }
        expect(remaining).toEqual([4, 3, 2, 1, 0]);
        const [refused] = await consume(key, [p]);
        expect(refused).toMatchObject({ policy: p.name, allowed: false, limit: 5, remaining: 0 });
        expect(refused?.retryAfterMs).toBeGreaterThan(0);
        expect(refused?.retryAfterMs).toBeLessThanOrEqual(60_000);
        expect(refused?.resetMs).toBeGreaterThan(0);
        expect(refused?.resetMs).toBeLessThanOrEqual(60_000);
      });

      it('admits exactly min(N, limit) of N concurrent requests on a fresh key', async () => {
        const key = freshKey('conc');
        const p = policy(algorithm, 10, 60_000);
        const results = await Promise.all(Array.from({ length: 100 }, () => consume(key, [p])));
        expect(results.filter(([d]) => d?.allowed).length).toBe(10);
        const few = freshKey('conc-few');
        const some = await Promise.all(Array.from({ length: 7 }, () => consume(few, [p])));
        expect(some.filter(([d]) => d?.allowed).length).toBe(7);
      });

      it('charges `cost` units, and a refused cost charges nothing', async () => {
        const key = freshKey('cost');
        const p = policy(algorithm, 10, 60_000);
        expect((await consume(key, [p], 3))[0]).toMatchObject({ allowed: true, remaining: 7 });
        expect((await consume(key, [p], 3))[0]).toMatchObject({ allowed: true, remaining: 4 });
        expect((await consume(key, [p], 3))[0]).toMatchObject({ allowed: true, remaining: 1 });
        expect((await consume(key, [p], 3))[0]).toMatchObject({ allowed: false, remaining: 0 });
        expect((await consume(key, [p], 1))[0]).toMatchObject({ allowed: true, remaining: 0 });
        expect((await consume(key, [p], 1))[0]?.allowed).toBe(false);
      });

      it('refuses a cost above the limit without charging', async () => {
        const key = freshKey('big');
        const p = policy(algorithm, 3, 60_000);
        const [d] = await consume(key, [p], 4);
        expect(d?.allowed).toBe(false);
        expect(d?.retryAfterMs).toBeGreaterThan(0);
        expect((await consume(key, [p], 3))[0]).toMatchObject({ allowed: true, remaining: 0 });
      });

      it('a cost of 0 is admitted and charges nothing', async () => {
        const key = freshKey('zero');
        const p = policy(algorithm, 2, 60_000);
        expect((await consume(key, [p], 0))[0]).toMatchObject({ allowed: true, remaining: 2 });
        expect((await consume(key, [p], 2))[0]).toMatchObject({ allowed: true, remaining: 0 });
      });

      it(
        'a refused request can succeed once retryAfterMs has passed, not before',
        TIMING,
        async () => {
          const key = freshKey('retry');
          const p = policy(algorithm, 2, 600);
          await consume(key, [p]);
          await consume(key, [p]);
          const [refused] = await consume(key, [p]);
          expect(refused?.allowed).toBe(false);
          const wait = refused?.retryAfterMs ?? 0;
          expect(wait).toBeGreaterThan(0);
          expect(wait).toBeLessThanOrEqual(600);
          if (wait > 150) {
            await sleep(wait - 120);
            expect((await consume(key, [p]))[0]?.allowed).toBe(false);
            await sleep(140);
          } else {
            await sleep(wait + 20);
          }
          expect((await consume(key, [p]))[0]?.allowed).toBe(true);
        },
      );

      it('reset forgets the key under every policy', async () => {
        const key = freshKey('reset');
        const a = policy(algorithm, 1, 60_000, 'reset-a');
        const b = policy(algorithm, 2, 60_000, 'reset-b');
        await consume(key, [a, b]);
        expect((await consume(key, [a]))[0]?.allowed).toBe(false);
        await harness.store.reset(key);
        const [da, db] = await consume(key, [a, b]);
        expect(da).toMatchObject({ allowed: true, remaining: 0 });
        expect(db).toMatchObject({ allowed: true, remaining: 1 });
      });

      it('refund gives a charge back exactly: the budget is as if the request had not come', async () => {
        const key = freshKey('refund');
        const p = policy(algorithm, 5, 60_000);
        await consume(key, [p]);
        const { decisions, receipt } = await charge(key, [p], 2);
        expect(decisions[0]).toMatchObject({ allowed: true, remaining: 2 });
        expect(receipt.value).toBeDefined();
        await refund(key, [p], 2, receipt);
        // 1 of 5 spent: a cost of 4 fits exactly, and nothing more.
        expect((await consume(key, [p], 4))[0]).toMatchObject({ allowed: true, remaining: 0 });
        expect((await consume(key, [p], 1))[0]?.allowed).toBe(false);
      });

      it('refund of every charge leaves a full budget, and never goes below empty', async () => {
        const key = freshKey('refund-all');
        const p = policy(algorithm, 3, 60_000);
        const charges = [];
        for (let i = 0; i < 3; i++) charges.push(await charge(key, [p]));
        expect((await consume(key, [p]))[0]?.allowed).toBe(false);
        for (const { receipt } of charges) await refund(key, [p], 1, receipt);
        // A receipt given back twice gives nothing more: still exactly 3.
        await refund(key, [p], 1, charges[0]?.receipt as ChargeReceipt);
        expect((await consume(key, [p], 3))[0]).toMatchObject({ allowed: true, remaining: 0 });
        expect((await consume(key, [p], 1))[0]?.allowed).toBe(false);
      });

      it('refund gives back every policy of the request, and an empty receipt gives nothing', async () => {
        const key = freshKey('refund-multi');
        const a = policy(algorithm, 2, 60_000, 'refund-a');
        const b = policy(algorithm, 4, 60_000, 'refund-b');
        const { receipt } = await charge(key, [a, b]);
        await consume(key, [a, b]);
        await refund(key, [a, b], 1, receipt);
        await refund(key, [a, b], 1, {}); // nothing charged under this receipt
        expect((await consume(key, [a, b])).map((d) => [d.allowed, d.remaining])).toEqual([
          [true, 0],
          [true, 2],
        ]);
        expect((await consume(key, [a]))[0]?.allowed).toBe(false);
      });

      it('refund after reset creates no credit: the budget stays the limit', async () => {
        const key = freshKey('refund-reset');
        const p = policy(algorithm, 2, 60_000);
        const { receipt } = await charge(key, [p]);
        await harness.store.reset(key);
        await refund(key, [p], 1, receipt);
        expect((await consume(key, [p], 2))[0]).toMatchObject({ allowed: true, remaining: 0 });
        expect((await consume(key, [p]))[0]?.allowed).toBe(false);
      });

      it('refund keeps the TTLs of the keys it changes', async () => {
        if (!harness.ttls) return;
        const key = freshKey('refund-ttl');
        const p = policy(algorithm, 5, 30_000, 'refund-ttl');
        const { receipt } = await charge(key, [p], 2);
        await refund(key, [p], 1, receipt);
        const ttls = await harness.ttls(key);
        expect(ttls.length).toBeGreaterThanOrEqual(1);
        for (const ttl of ttls) {
          expect(ttl).toBeGreaterThan(0);
          expect(ttl).toBeLessThanOrEqual(60_000);
        }
      });

      it('sets a TTL on every key it writes', async () => {
        if (!harness.ttls) return;
        const key = freshKey('ttl');
        await consume(key, [
          policy(algorithm, 5, 30_000, 'ttl-a'),
          policy(algorithm, 5, 10_000, 'ttl-b'),
        ]);
        const ttls = await harness.ttls(key);
        expect(ttls.length).toBe(3); // the index and one key per policy
        for (const ttl of ttls) {
          expect(ttl).toBeGreaterThan(0);
          // State keys live at most their window; the index at most twice the longest.
          expect(ttl).toBeLessThanOrEqual(60_000);
        }
      });
    });

    it(
      'token bucket refills continuously: half a window gives half the bucket back',
      TIMING,
      async () => {
        const key = freshKey('refill');
        const p = policy('token-bucket', 4, 800);
        for (let i = 0; i < 4; i++) expect((await consume(key, [p]))[0]?.allowed).toBe(true);
        expect((await consume(key, [p]))[0]?.allowed).toBe(false);
        await sleep(430); // 2 tokens (one per 200 ms), with room for scheduling
        expect((await consume(key, [p]))[0]?.allowed).toBe(true);
        expect((await consume(key, [p]))[0]?.allowed).toBe(true);
        expect((await consume(key, [p]))[0]?.allowed).toBe(false);
      },
    );

    it('fixed window starts counting afresh in the next aligned window', TIMING, async () => {
      const key = freshKey('fixed');
      const p = policy('fixed-window', 2, 500);
      await consume(key, [p]);
      await consume(key, [p]);
      const [refused] = await consume(key, [p]);
      expect(refused?.allowed).toBe(false);
      expect(refused?.retryAfterMs).toBe(refused?.resetMs);
      await sleep((refused?.resetMs ?? 0) + 20);
      expect((await consume(key, [p]))[0]).toMatchObject({ allowed: true, remaining: 1 });
    });

    it(
      'sliding window never admits more than `limit` in any interval of `window`',
      TIMING,
      async () => {
        const key = freshKey('slide');
        const p = policy('sliding-window', 3, 600);
        // Each admission happened between the moment it was asked (sent) and answered (done).
        const admitted: Array<{ sent: number; done: number }> = [];
        const started = Date.now();
        while (Date.now() - started < 1_500) {
          const sent = Date.now();
          const [d] = await consume(key, [p]);
          if (d?.allowed) admitted.push({ sent, done: Date.now() });
          await sleep(25);
        }
        // So admissions i-3 and i are at least a window apart: done(i) - sent(i-3) >= 600 (±1 ms of rounding).
        for (let i = 3; i < admitted.length; i++) {
          const gap = (admitted[i]?.done as number) - (admitted[i - 3]?.sent as number);
          expect(gap).toBeGreaterThanOrEqual(598);
        }
        expect(admitted.length).toBeGreaterThanOrEqual(6);
      },
    );

    it(
      'fixed window: refund gives back only a charge of the window still current',
      TIMING,
      async () => {
        const key = freshKey('refund-window');
        const p = policy('fixed-window', 2, 400);
        const { decisions, receipt } = await charge(key, [p]);
        await sleep((decisions[0]?.resetMs ?? 0) + 20); // the next window
        await consume(key, [p], 2);
        await refund(key, [p], 1, receipt); // from the window before: not this one's
        expect((await consume(key, [p]))[0]?.allowed).toBe(false);
      },
    );

    it('sliding window: refund removes the very entries the charge added', TIMING, async () => {
      const key = freshKey('refund-slide');
      const p = policy('sliding-window', 2, 1_000);
      const first = await charge(key, [p]);
      await sleep(250);
      await consume(key, [p]);
      await refund(key, [p], 1, first.receipt);
      expect((await consume(key, [p]))[0]).toMatchObject({ allowed: true, remaining: 0 });
      const [refused] = await consume(key, [p]);
      expect(refused?.allowed).toBe(false);
      // The entry left is the second charge's (250 ms younger than the first's): had the
      // refund taken it instead, the wait would end about 250 ms sooner.
      expect(refused?.retryAfterMs).toBeGreaterThan(850);
    });

    it('token bucket: refund gives back no more than the bucket still holds', TIMING, async () => {
      const key = freshKey('refund-drained');
      // One unit per 100 ms; a cost of 3 has drained by 300 ms.
      const p = policy('token-bucket', 4, 400);
      const { receipt } = await charge(key, [p], 3);
      await sleep(350);
      await refund(key, [p], 3, receipt);
      // Drained already, nothing to give: a full bucket of 4, not more.
      expect((await consume(key, [p], 4))[0]).toMatchObject({ allowed: true, remaining: 0 });
      expect((await consume(key, [p], 1))[0]?.allowed).toBe(false);
    });

    it('several policies are all-or-nothing: a refused request charges none of them', async () => {
      const key = freshKey('multi');
      const wide = policy('token-bucket', 10, 60_000, 'wide');
      const narrow = policy('fixed-window', 2, 60_000, 'narrow');
      const slide = policy('sliding-window', 10, 60_000, 'slide');
      const all = [wide, narrow, slide];
      expect((await consume(key, all)).map((d) => d.allowed)).toEqual([true, true, true]);
      expect((await consume(key, all)).map((d) => d.remaining)).toEqual([8, 0, 8]);
      const refused = await consume(key, all);
      expect(refused.map((d) => d.policy)).toEqual(['wide', 'narrow', 'slide']);
      expect(refused.map((d) => d.allowed)).toEqual([true, false, true]);
      // The policies that would admit report what is left now (nothing was charged).
      expect(refused.map((d) => d.remaining)).toEqual([8, 0, 8]);
      // The refused request left wide and slide untouched: still 8 left before this one.
      const [w] = await consume(key, [wide]);
      const [s] = await consume(key, [slide]);
      expect(w).toMatchObject({ allowed: true, remaining: 7 });
      expect(s).toMatchObject({ allowed: true, remaining: 7 });
    });

    it('several policies under concurrency admit exactly the tightest limit', async () => {
      const key = freshKey('multi-conc');
      const a = policy('token-bucket', 7, 60_000, 'conc-a');
      const b = policy('sliding-window', 4, 60_000, 'conc-b');
      const results = await Promise.all(Array.from({ length: 40 }, () => consume(key, [a, b])));
      expect(results.filter((ds) => ds.every((d) => d.allowed)).length).toBe(4);
      expect((await consume(key, [a]))[0]).toMatchObject({ allowed: true, remaining: 2 });
    });

    it('policies with different names never share counters on one key', async () => {
      const key = freshKey('names');
      const x = policy('token-bucket', 1, 60_000, 'x');
      const y = policy('token-bucket', 1, 60_000, 'y');
      expect((await consume(key, [x]))[0]?.allowed).toBe(true);
      expect((await consume(key, [x]))[0]?.allowed).toBe(false);
      expect((await consume(key, [y]))[0]?.allowed).toBe(true);
    });

    it('one name under two algorithms keeps two counters', async () => {
      const key = freshKey('algos');
      const tb = policy('token-bucket', 1, 60_000, 'same');
      const fw = policy('fixed-window', 1, 60_000, 'same');
      expect((await consume(key, [tb]))[0]?.allowed).toBe(true);
      expect((await consume(key, [fw]))[0]?.allowed).toBe(true);
      expect((await consume(key, [tb]))[0]?.allowed).toBe(false);
    });

    it('keys are opaque: braces, colons and unicode never mix two clients', async () => {
      const p = policy('token-bucket', 1, 60_000, 'opaque');
      const base = freshKey('opaque');
      const keys = [`${base}}`, `${base}}:x`, `${base}{a}`, `${base}é`, base];
      for (const key of keys) expect((await consume(key, [p]))[0]?.allowed).toBe(true);
      for (const key of keys) expect((await consume(key, [p]))[0]?.allowed).toBe(false);
    });

    it('returns one decision per policy, in order, with the policy fields', async () => {
      const key = freshKey('shape');
      const ps = [policy('sliding-window', 3, 1_000, 's1'), policy('token-bucket', 9, 2_000, 't1')];
      const ds: RateLimitDecision[] = await consume(key, ps);
      expect(ds).toHaveLength(2);
      expect(ds[0]).toEqual({
        policy: 's1',
        allowed: true,
        limit: 3,
        remaining: 2,
        resetMs: 1_000,
        retryAfterMs: 0,
      });
      expect(ds[1]).toMatchObject({
        policy: 't1',
        allowed: true,
        limit: 9,
        remaining: 8,
        retryAfterMs: 0,
      });
      expect(ds[1]?.resetMs).toBeGreaterThan(200);
      expect(ds[1]?.resetMs).toBeLessThanOrEqual(223);
    });
  });
}
