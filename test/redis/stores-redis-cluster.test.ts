import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { createCluster, type RedisClusterType } from 'redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TRYAGAIN_RETRY } from '../../src/stores/redis-client.js';
import { CONSUME_SCRIPT_SHA } from '../../src/stores/redis-script.js';
import { RedisStore } from '../../src/stores/redis-store.js';
import type { Policy } from '../../src/stores/types.js';
import { ALL_ALGORITHMS, runStoreConformance } from '../conformance/store-conformance.js';
import { awayFromMinuteBoundary } from '../helpers/minute-boundary.js';
import { uniquePrefix } from '../helpers/redis.js';
import {
  type ClusterNode,
  errorReplies,
  type RedisClusterHandle,
  requireRedisServer,
  startRedisCluster,
} from '../helpers/redis-cluster.js';

const hasRedisServer = await requireRedisServer('RedisStore on Redis Cluster');

type NodeRedisCluster = RedisClusterType;

function ioredisCluster(cluster: RedisClusterHandle): Cluster {
  // After 2 reconnection attempts (not the default 20) a command fails, so a dead node fails fast.
  return new Cluster([...cluster.rootNodes], { redisOptions: { maxRetriesPerRequest: 2 } });
}

/**
 * A connected node-redis cluster client. Its 'error' events (connection trouble;
 * unhandled, one would crash the worker) are kept in `errors`, and the closer
 * fails if there were any: the cluster stays up for the whole file.
 */
async function nodeRedisCluster(
  cluster: RedisClusterHandle,
): Promise<{ client: NodeRedisCluster; close(): Promise<void> }> {
  const errors: string[] = [];
  const client: NodeRedisCluster = createCluster({
    rootNodes: cluster.rootNodes.map(({ host, port }) => ({ socket: { host, port } })),
  });
  client.on('error', (err: unknown) => errors.push(String(err)));
  await client.connect();
  return {
    client,
    close: async () => {
      await client.close();
      expect(errors, 'node-redis cluster errors').toEqual([]);
    },
  };
}

/** Every key on `node` whose name starts with `prefix` (glob-safe: test prefixes hold no glob characters). */
function keysOn(node: ClusterNode, prefix: string): Promise<string[]> {
  return node.admin.keys(`${prefix}*`);
}

/** The keys the store holds for client `key`, found on the master that owns its hash slot, and that master. */
async function clientKeys(
  cluster: RedisClusterHandle,
  prefix: string,
  key: string,
): Promise<{ owner: ClusterNode; keys: string[] }> {
  const index = `${prefix}{${key}}`;
  const slot = await cluster.slotOf(index);
  const owner = await cluster.ownerOf(slot);
  const inSlot = (await owner.admin.call(
    'CLUSTER',
    'GETKEYSINSLOT',
    String(slot),
    '1000',
  )) as string[];
  return { owner, keys: inSlot.filter((k) => k === index || k.startsWith(`${index}:`)) };
}

function policy(algorithm: Policy['algorithm'], limit: number, name = `${algorithm}-${limit}`) {
  return { name, limit, windowMs: 60_000, algorithm } satisfies Policy;
}

describe.skipIf(!hasRedisServer)('RedisStore on a 3-master Redis Cluster', () => {
  beforeEach(awayFromMinuteBoundary);
  let cluster: RedisClusterHandle;

  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 40_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  /** A conformance harness whose ttls are read from the master that owns the client's slot. */
  const harness = (store: RedisStore, prefix: string, close: () => Promise<void>) => ({
    store,
    ttls: async (key: string) => {
      const { owner, keys } = await clientKeys(cluster, prefix, key);
      return Promise.all(keys.map((k) => owner.admin.pttl(k)));
    },
    close,
  });

  runStoreConformance('RedisStore (ioredis Cluster)', async () => {
    const client = ioredisCluster(cluster);
    const prefix = uniquePrefix('cluster-ioredis');
    const store = new RedisStore({ client, prefix });
    expect(store.clientKind).toBe('ioredis-cluster');
    return harness(store, prefix, async () => {
      client.disconnect();
    });
  });

  runStoreConformance('RedisStore (node-redis createCluster)', async () => {
    const { client, close } = await nodeRedisCluster(cluster);
    const prefix = uniquePrefix('cluster-node-redis');
    const store = new RedisStore({ client, prefix });
    expect(store.clientKind).toBe('node-redis-cluster');
    return harness(store, prefix, close);
  });

  describe('cluster behaviour', () => {
    let io: Cluster;
    let nr: NodeRedisCluster;
    let closeNr: (() => Promise<void>) | undefined;
    const clients = [
      { label: 'ioredis Cluster', client: () => io },
      { label: 'node-redis cluster', client: () => nr },
    ] as const;
    let n = 0;
    const fresh = (tag: string) => `${tag}-${n++}`;

    beforeAll(async () => {
      io = ioredisCluster(cluster);
      ({ client: nr, close: closeNr } = await nodeRedisCluster(cluster));
    });
    afterAll(async () => {
      io?.disconnect();
      await closeNr?.();
    });

    /** Client keys chosen so that every master owns at least one of them. */
    async function keysOnEveryMaster(prefix: string, tag: string): Promise<string[]> {
      const keys: string[] = [];
      const owners = new Set<string>();
      for (let i = 0; owners.size < cluster.nodes.length; i++) {
        const key = `${tag}-${i}`;
        const owner = await cluster.ownerOf(await cluster.slotOf(`${prefix}{${key}}`));
        if (owners.has(owner.id)) continue;
        owners.add(owner.id);
        keys.push(key);
      }
      return keys;
    }

    it.each(clients)(
      "$label: each client's keys share one slot on one master, and clients spread over the masters",
      async ({ client }) => {
        const prefix = uniquePrefix('cluster-spread');
        const store = new RedisStore({ client: client(), prefix });
        const policies = [policy('token-bucket', 5, 'a'), policy('sliding-window', 5, 'b')];
        const keys = Array.from({ length: 50 }, (_, i) => `user-${i}`);
        await Promise.all(keys.map((key) => store.consume(key, policies, 1)));

        // Scan every master, not just the expected one: a key written elsewhere must show up.
        const perNode = await Promise.all(cluster.nodes.map((node) => keysOn(node, prefix)));
        expect(perNode.flat()).toHaveLength(keys.length * 3);
        const mastersUsed = new Set<string>();
        for (const key of keys) {
          const index = `${prefix}{${key}}`;
          const mine = (k: string) => k === index || k.startsWith(`${index}:`);
          const holders = cluster.nodes.filter((_, i) => perNode[i]?.some(mine));
          expect(holders, key).toHaveLength(1);
          const holder = holders[0] as ClusterNode;
          const held = (perNode[cluster.nodes.indexOf(holder)] ?? []).filter(mine).sort();
          expect(held).toEqual([index, `${index}:a:t`, `${index}:b:s`].sort());
          const slots = await Promise.all(held.map((k) => cluster.slotOf(k)));
          expect(new Set(slots).size, key).toBe(1);
          expect((await cluster.ownerOf(slots[0] as number)).id).toBe(holder.id);
          mastersUsed.add(holder.id);
        }
        // 50 clients all on one master would mean the hash tag is not what spreads them.
        expect(mastersUsed.size).toBeGreaterThanOrEqual(2);
      },
    );

    it.each(ALL_ALGORITHMS)(
      '%s: 100 concurrent decisions for one key from two stores (ioredis + node-redis) admit exactly the limit',
      async (algorithm) => {
        const prefix = uniquePrefix('cluster-race');
        const a = new RedisStore({ client: io, prefix });
        const b = new RedisStore({ client: nr, prefix });
        const p = policy(algorithm, 10);
        const key = fresh('race');
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).consume(key, [p], 1)),
        );
        expect(results.filter(([d]) => d?.allowed)).toHaveLength(10);
        // Both stores see the one counter: it is spent for each of them.
        expect((await a.consume(key, [p], 1))[0]?.allowed).toBe(false);
        expect((await b.consume(key, [p], 1))[0]?.allowed).toBe(false);
      },
    );

    it.each(clients)(
      '$label: SCRIPT FLUSH on every master mid-run is recovered, with exact counts',
      async ({ client }) => {
        const prefix = uniquePrefix('cluster-flush');
        const store = new RedisStore({ client: client(), prefix });
        const keys = await keysOnEveryMaster(prefix, 'flush');
        const p = policy('token-bucket', 10);
        const flushAll = () =>
          Promise.all(cluster.nodes.map((node) => node.admin.call('SCRIPT', 'FLUSH')));
        const exists = () =>
          Promise.all(
            cluster.nodes.map(
              async (node) =>
                ((await node.admin.call('SCRIPT', 'EXISTS', CONSUME_SCRIPT_SHA)) as number[])[0],
            ),
          );

        for (const key of keys) {
          for (let i = 0; i < 3; i++) await store.consume(key, [p], 1);
        }
        expect(await exists()).toEqual([1, 1, 1]);
        await flushAll();
        expect(await exists()).toEqual([0, 0, 0]);
        // The next decision on each master meets NOSCRIPT and must re-send the script there.
        for (const key of keys) {
          expect((await store.consume(key, [p], 1))[0]).toMatchObject({
            allowed: true,
            remaining: 6,
          });
        }
        expect(await exists()).toEqual([1, 1, 1]);

        // And a flush while decisions are in flight: 12 more per key, 6 left, so exactly 6 admitted each.
        const inFlight = keys.map((key) =>
          Promise.all(Array.from({ length: 12 }, () => store.consume(key, [p], 1))),
        );
        const [perKey] = await Promise.all([Promise.all(inFlight), flushAll()]);
        for (const results of perKey) {
          expect(results.filter(([d]) => d?.allowed)).toHaveLength(6);
        }
        for (const key of keys) {
          expect((await store.consume(key, [p], 1))[0]?.allowed).toBe(false);
        }
      },
    );

    it.each(clients)(
      "$label: reset(key) deletes that client's keys on its master and no other client's",
      async ({ client }) => {
        const prefix = uniquePrefix('cluster-reset');
        const store = new RedisStore({ client: client(), prefix });
        const [key, other] = await keysOnEveryMaster(prefix, 'reset');
        const policies = [policy('fixed-window', 2, 'a'), policy('sliding-window', 3, 'b')];
        for (const k of [key, other] as string[]) {
          for (let i = 0; i < 2; i++) await store.consume(k, policies, 1);
          expect((await store.consume(k, policies, 1))[0]?.allowed).toBe(false);
        }
        expect((await clientKeys(cluster, prefix, key as string)).keys).toHaveLength(3);

        await store.reset(key as string);

        expect((await clientKeys(cluster, prefix, key as string)).keys).toEqual([]);
        for (const node of cluster.nodes) {
          expect(await keysOn(node, `${prefix}{${key}}`)).toEqual([]);
        }
        expect(await store.consume(key as string, policies, 1)).toMatchObject([
          { allowed: true, remaining: 1 },
          { allowed: true, remaining: 2 },
        ]);
        // The other client (on another master) keeps its spent counter.
        expect((await clientKeys(cluster, prefix, other as string)).keys).toHaveLength(3);
        expect((await store.consume(other as string, policies, 1))[0]?.allowed).toBe(false);
        // Resetting a client with no keys is not an error.
        await expect(store.reset(fresh('never-seen'))).resolves.toBeUndefined();
      },
    );

    it.each(clients)(
      '$label: follows MOVED after its slot is resharded to another master, keeping the count',
      async ({ client }) => {
        const prefix = uniquePrefix('cluster-moved');
        const store = new RedisStore({ client: client(), prefix });
        const key = fresh('moved');
        const p = policy('token-bucket', 5);
        await store.consume(key, [p], 1);
        await store.consume(key, [p], 1);
        const slot = await cluster.slotOf(`${prefix}{${key}}`);
        const from = await cluster.ownerOf(slot);
        const to = cluster.nodes.find((node) => node.id !== from.id) as ClusterNode;

        // The client's slot map still names `from`, which now answers MOVED.
        await cluster.migrateSlot(slot, to);
        const moved = await errorReplies(from, 'MOVED');

        expect((await store.consume(key, [p], 1))[0]).toMatchObject({
          allowed: true,
          remaining: 2,
        });
        expect(await errorReplies(from, 'MOVED')).toBeGreaterThan(moved);
        expect((await clientKeys(cluster, prefix, key)).owner.id).toBe(to.id);
        expect(await keysOn(from, `${prefix}{${key}}`)).toEqual([]);
      },
    );

    it.each(clients)(
      '$label: follows ASK while its slot is half-way through a resharding, keeping the count',
      async ({ client }) => {
        const prefix = uniquePrefix('cluster-ask');
        const store = new RedisStore({ client: client(), prefix });
        const key = fresh('ask');
        const p = policy('fixed-window', 5);
        await store.consume(key, [p], 1);
        await store.consume(key, [p], 1);
        const slot = await cluster.slotOf(`${prefix}{${key}}`);
        const from = await cluster.ownerOf(slot);
        const to = cluster.nodes.find((node) => node.id !== from.id) as ClusterNode;

        // The keys are on `to`, the slot still on `from` (MIGRATING): `from` answers ASK.
        await cluster.migrateSlot(slot, to, { finish: false });
        expect(await keysOn(from, `${prefix}{${key}}`)).toEqual([]);
        expect(await keysOn(to, `${prefix}{${key}}`)).toHaveLength(2);
        const asked = await errorReplies(from, 'ASK');

        expect((await store.consume(key, [p], 1))[0]).toMatchObject({
          allowed: true,
          remaining: 2,
        });
        expect(await errorReplies(from, 'ASK')).toBeGreaterThan(asked);
        await cluster.migrateSlot(slot, to);
        expect((await store.consume(key, [p], 1))[0]).toMatchObject({
          allowed: true,
          remaining: 1,
        });
        expect((await clientKeys(cluster, prefix, key)).owner.id).toBe(to.id);
      },
    );

    /** Polls `condition` every 10 ms for at most `ms`, then fails naming `what`. */
    async function waitFor(what: string, condition: () => Promise<boolean>, ms = 3_000) {
      const deadline = Date.now() + ms;
      while (!(await condition())) {
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await sleep(10);
      }
    }

    /** A fresh client key and its slot, half-way through a resharding to another master. */
    async function newClientMidResharding(prefix: string, tag: string) {
      const key = fresh(tag);
      const slot = await cluster.slotOf(`${prefix}{${key}}`);
      const from = await cluster.ownerOf(slot);
      const to = cluster.nodes.find((node) => node.id !== from.id) as ClusterNode;
      await cluster.migrateSlot(slot, to, { finish: false });
      return { key, slot, to };
    }

    it.each(clients)(
      '$label: a client new to a slot that is mid-resharding waits out TRYAGAIN and is decided once it completes',
      async ({ client }) => {
        const prefix = uniquePrefix('cluster-tryagain');
        const store = new RedisStore({ client: client(), prefix });
        const p = policy('sliding-window', 3);
        const { key, slot, to } = await newClientMidResharding(prefix, 'tryagain');
        const before = await errorReplies(to, 'TRYAGAIN');

        // None of its keys exist yet: the old owner answers ASK, the new one (a multi-key
        // script, keys missing) TRYAGAIN, until the slot is the new owner's.
        const decision = store.consume(key, [p], 1);
        // Awaited below; this only keeps an early rejection from counting as unhandled meanwhile.
        decision.catch(() => {});
        await waitFor(
          'a TRYAGAIN reply',
          async () => (await errorReplies(to, 'TRYAGAIN')) > before,
        );
        await cluster.migrateSlot(slot, to);

        expect(await decision).toMatchObject([{ allowed: true, remaining: 2 }]);
        expect((await clientKeys(cluster, prefix, key)).owner.id).toBe(to.id);
      },
    );

    it('node-redis cluster: gives up on TRYAGAIN after a bounded wait, with the TRYAGAIN error', async () => {
      const prefix = uniquePrefix('cluster-tryagain-bound');
      const store = new RedisStore({ client: nr, prefix });
      const { key, slot, to } = await newClientMidResharding(prefix, 'bound');
      const before = await errorReplies(to, 'TRYAGAIN');
      const started = Date.now();
      try {
        await expect(store.consume(key, [policy('token-bucket', 3)], 1)).rejects.toThrow(
          /^TRYAGAIN/,
        );
        // One first try and the bounded number of retries, each answered TRYAGAIN, a delay apart.
        expect((await errorReplies(to, 'TRYAGAIN')) - before).toBe(1 + TRYAGAIN_RETRY.retries);
        expect(Date.now() - started).toBeGreaterThanOrEqual(
          TRYAGAIN_RETRY.retries * TRYAGAIN_RETRY.delayMs - 50,
        );
      } finally {
        await cluster.migrateSlot(slot, to);
      }
    });
  });
});
