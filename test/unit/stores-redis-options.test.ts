import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import { describe, expect, it } from 'vitest';
import { GatewayConfigError } from '../../src/errors.js';
import { RedisStore, type RedisStoreOptions } from '../../src/stores/redis-store.js';
import type { ChargeReceipt, Policy } from '../../src/stores/types.js';

/** The hash tag Redis Cluster hashes: the text between the first '{' and the next '}'. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open !== -1 && close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('RedisStore construction', () => {
  it('detects each supported client kind without connecting', async () => {
    const io = new Redis({ lazyConnect: true });
    const cluster = new Cluster([{ host: '127.0.0.1', port: 6379 }], { lazyConnect: true });
    const nodeRedis = createClient({ url: 'redis://127.0.0.1:6379' });
    const nodeCluster = createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:6379' }] });
    try {
      expect(new RedisStore({ client: io }).clientKind).toBe('ioredis');
      expect(new RedisStore({ client: cluster }).clientKind).toBe('ioredis-cluster');
      expect(new RedisStore({ client: nodeRedis }).clientKind).toBe('node-redis');
      expect(new RedisStore({ client: nodeCluster }).clientKind).toBe('node-redis-cluster');
      expect(new RedisStore({ sendCommand: async () => null }).clientKind).toBe('sendCommand');
    } finally {
      io.disconnect();
      cluster.disconnect();
    }
  });

  it('rejects what it cannot use, naming the field', () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'RedisStore.client'],
      [{ client: {} }, 'RedisStore.client'],
      [{ client: 'redis://localhost' }, 'RedisStore.client'],
      [{ sendCommand: 'nope' }, 'RedisStore.sendCommand'],
      [{ sendCommand: async () => null, prefix: 'a{b}' }, 'RedisStore.prefix'],
      [{ sendCommand: async () => null, prefix: '' }, 'RedisStore.prefix'],
      [{ sendCommand: async () => null, client: {} }, 'RedisStore'],
      [{ sendCommand: async () => null, ttl: 5 }, 'RedisStore.ttl'],
    ];
    for (const [options, field] of cases) {
      let error: unknown;
      try {
        new RedisStore(options as RedisStoreOptions);
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(GatewayConfigError);
      expect((error as GatewayConfigError).field).toBe(field);
    }
  });

  it('sends one script call whose keys all share the client hash tag, and never touches the client on close', async () => {
    const calls: string[][] = [];
    const store = new RedisStore({
      sendCommand: async (...args) => {
        calls.push(args);
        // Per policy allowed, remaining, resetMs, retryAfterMs; then Redis's time of the call.
        return [1, 4, 12_000, 0, 1, 9, 100, 0, 1_700_000_000_123];
      },
      prefix: 'p:',
    });
    const policies: Policy[] = [
      { name: '5-in-1m', limit: 5, windowMs: 60_000, algorithm: 'token-bucket' },
      { name: 'daily', limit: 10, windowMs: 86_400_000, algorithm: 'fixed-window' },
    ];
    const receipt: ChargeReceipt = {};
    const decisions = await store.consume('id:al}ice{x', policies, 1, receipt);
    expect(receipt.value).toBe(1_700_000_000_123);
    expect(decisions).toEqual([
      {
        policy: '5-in-1m',
        allowed: true,
        limit: 5,
        remaining: 4,
        resetMs: 12_000,
        retryAfterMs: 0,
      },
      { policy: 'daily', allowed: true, limit: 10, remaining: 9, resetMs: 100, retryAfterMs: 0 },
    ]);
    expect(calls).toHaveLength(1);
    const [command, , numKeys, ...rest] = calls[0] as string[];
    expect(command).toBe('EVAL');
    const keys = rest.slice(0, Number(numKeys));
    expect(keys).toEqual([
      'p:{id:al}ice{x}',
      'p:{id:al}ice{x}:5-in-1m:t',
      'p:{id:al}ice{x}:daily:f',
    ]);
    expect(new Set(keys.map(hashTag)).size).toBe(1);
    await store.close();
    expect(calls).toHaveLength(1);
  });

  it('refund sends one script call on the same keys, naming the charge by its receipt', async () => {
    const calls: string[][] = [];
    const store = new RedisStore({
      sendCommand: async (...args) => {
        calls.push(args);
        return args[0] === 'EVAL' && args[1]?.includes('LREM') ? 1 : [1, 1, 1, 0, 1, 1, 1, 0, 7];
      },
      prefix: 'p:',
    });
    const policies: Policy[] = [
      { name: 'tb', limit: 5, windowMs: 60_000, algorithm: 'token-bucket' },
      { name: 'sw', limit: 3, windowMs: 1_000, algorithm: 'sliding-window' },
    ];
    const receipt: ChargeReceipt = {};
    await store.consume('k', policies, 2, receipt);
    await store.refund('k', policies, 2, receipt);
    await store.refund('k', policies, 2, receipt);
    // An empty receipt (nothing charged) sends nothing.
    await store.refund('k', policies, 2, {});
    expect(calls.map((c) => c[0])).toEqual(['EVAL', 'EVAL', 'EVALSHA']);
    const [, , numKeys, ...rest] = calls[1] as string[];
    expect(rest.slice(0, Number(numKeys))).toEqual(['p:{k}', 'p:{k}:tb:t', 'p:{k}:sw:s']);
    expect(rest.slice(Number(numKeys))).toEqual([
      '7',
      '2',
      '2',
      't',
      '5',
      '60000',
      's',
      '3',
      '1000',
    ]);
    expect(calls[2]?.slice(2)).toEqual(calls[1]?.slice(2));
  });

  it('rejects a malformed script reply instead of inventing decisions', async () => {
    const store = new RedisStore({ sendCommand: async () => 'OK', prefix: 'p:' });
    await expect(
      store.consume('k', [{ name: 'x', limit: 1, windowMs: 1_000, algorithm: 'token-bucket' }], 1),
    ).rejects.toThrow(/unexpected reply/);
  });
});
