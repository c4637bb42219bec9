import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { GatewayConfigError } from '../../src/errors.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import type { Policy } from '../../src/stores/types.js';

// A real collection before each heap reading, without needing --expose-gc on the
// command line: otherwise garbage that is merely uncollected yet (it differs by
// Node version) would count as retained.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const policy: Policy = { name: '5-in-1m', limit: 5, windowMs: 60_000, algorithm: 'token-bucket' };

describe('MemoryStore', () => {
  it('decides synchronously: consume returns the decisions, not a promise', () => {
    const store = new MemoryStore();
    const result = store.consume('ip:1', [policy], 1);
    expect(Array.isArray(result)).toBe(true);
    expect(result[0]).toMatchObject({ allowed: true, remaining: 4 });
    void store.close();
  });

  it('evicts the least recently used key beyond maxKeys', () => {
    const store = new MemoryStore({ maxKeys: 3 });
    const one: Policy = { ...policy, limit: 1 };
    for (const key of ['a', 'b', 'c']) store.consume(key, [one], 1);
    store.consume('a', [one], 0); // touch a: b is now the least recently used
    store.consume('d', [one], 1);
    expect(store.size).toBe(3);
    expect(store.consume('a', [one], 1)[0]?.allowed).toBe(false); // kept
    expect(store.consume('c', [one], 1)[0]?.allowed).toBe(false); // kept
    expect(store.consume('b', [one], 1)[0]?.allowed).toBe(true); // forgotten, so fresh
    void store.close();
  });

  it('sweeps keys whose state has expired, and only those', () => {
    let now = 1_000_000;
    const store = new MemoryStore({ clock: () => now });
    store.consume('short', [{ ...policy, name: 's', windowMs: 1_000 }], 1);
    store.consume('long', [{ ...policy, name: 'l', windowMs: 100_000 }], 1);
    store.consume(
      'fixed',
      [{ ...policy, name: 'f', windowMs: 1_000, algorithm: 'fixed-window' }],
      1,
    );
    store.consume(
      'log',
      [{ ...policy, name: 'g', windowMs: 1_000, algorithm: 'sliding-window' }],
      1,
    );
    expect(store.size).toBe(4);
    now += 1_000;
    expect(store.sweep()).toBe(3);
    expect(store.size).toBe(1);
    now += 100_000;
    expect(store.sweep()).toBe(1);
    expect(store.size).toBe(0);
    void store.close();
  });

  it('keeps 1,000,000 distinct keys bounded by maxKeys 10,000', () => {
    const store = new MemoryStore({ maxKeys: 10_000 });
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) {
      store.consume(`ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, [policy], 1);
      if (store.size > 10_000) throw new Error(`size ${store.size} exceeds maxKeys`);
    }
    expect(store.size).toBe(10_000);
    collectGarbage();
    const grown = process.memoryUsage().heapUsed - before;
    // 10,000 keys at a few hundred bytes each; a generous bound that 1M retained keys would break.
    expect(grown).toBeLessThan(60 * 1024 * 1024);
    void store.close();
  });

  it('reset forgets a key; close clears everything and stops the timer', async () => {
    const store = new MemoryStore();
    store.consume('k', [{ ...policy, limit: 1 }], 1);
    store.reset('k');
    expect(store.consume('k', [{ ...policy, limit: 1 }], 1)[0]?.allowed).toBe(true);
    await store.close();
    expect(store.size).toBe(0);
  });

  it('validates its options', () => {
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(GatewayConfigError);
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(/MemoryStore\.maxKeys/);
    // @ts-expect-error an unknown option
    expect(() => new MemoryStore({ maxkeys: 5 })).toThrow(/MemoryStore\.maxkeys: unknown option/);
  });

  it('throws on a policy with an unknown algorithm (the limiter treats it as a store failure)', () => {
    const store = new MemoryStore();
    const bad = { ...policy, algorithm: 'leaky' } as unknown as Policy;
    expect(() => store.consume('k', [bad], 1)).toThrow(TypeError);
    void store.close();
  });
});
