// SPEC §8 (issue 11 item 10): a request answered as a store failure (past storeTimeout) is never
// left charged. A real Redis of the test's own is paused with SIGSTOP past storeTimeout and
// resumed with SIGCONT; its late answers charged the requests the gateway had already answered,
// and the limiter must give those charges back.
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rateLimit } from '../../src/rate-limit/rate-limit.js';
import { RedisStore } from '../../src/stores/redis-store.js';
import type { Algorithm, Policy } from '../../src/stores/types.js';
import type { GatewayEvent, GatewayRequest } from '../../src/types.js';
import { type Host, startHost } from '../helpers/host.js';
import { requireRedisServer } from '../helpers/redis-cluster.js';
import { type OwnRedisServer, startRedisServer } from '../helpers/redis-server.js';

const hasServer = await requireRedisServer('late charges (a redis-server paused with SIGSTOP)');
const PREFIX = `late:${process.pid}:`;
const LIMIT = 5;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function client(server: OwnRedisServer): Redis {
  const c = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  cleanups.push(async () => {
    c.disconnect();
  });
  return c;
}

describe.skipIf(!hasServer)('a Redis stall past storeTimeout leaves no charge behind', () => {
  let server: OwnRedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  let run = 0;
  it.each<[Algorithm, 'deny' | 'allow']>([
    ['token-bucket', 'deny'],
    ['fixed-window', 'deny'],
    ['sliding-window', 'deny'],
    ['token-bucket', 'allow'],
    ['sliding-window', 'allow'],
  ])(
    '%s, onStoreError %s: the requests answered during the stall are given back',
    async (algorithm, onStoreError) => {
      const prefix = `${PREFIX}${++run}:`;
      const store = new RedisStore({ client: client(server), prefix });
      const events: GatewayEvent[] = [];
      let reached = 0;
      const limiter = rateLimit({
        key: () => 'one',
        limit: LIMIT,
        window: '1h',
        algorithm,
        store,
        onStoreError,
        storeTimeout: '100ms',
        onEvent: (e) => events.push(e),
      });
      const host: Host = await startHost((app) => {
        app.use(limiter);
        app.use((_req: GatewayRequest, res: ServerResponse) => {
          reached++;
          res.end('ok');
        });
      });
      cleanups.push(async () => {
        await host.close();
        await limiter.close();
      });
      const get = () => fetch(host.url).then((r) => r.status);

      // Two requests counted: 3 of 5 left.
      expect([await get(), await get()]).toEqual([200, 200]);

      server.pause();
      let stalled: number[];
      try {
        stalled = await Promise.all([get(), get(), get()]);
      } finally {
        server.resume();
      }
      expect(stalled).toEqual(Array(3).fill(onStoreError === 'deny' ? 503 : 200));
      expect(events.filter((e) => e.type === 'ratelimit.store_error')).toHaveLength(3);

      // Redis now runs the three queued decisions (charging them), then the gateway's refunds.
      // Watch the budget through a store of our own: a cost of 0 charges nothing.
      const observer = new RedisStore({ client: client(server), prefix });
      const policy: Policy = {
        name: `${LIMIT}-in-1h`,
        limit: LIMIT,
        windowMs: 3_600_000,
        algorithm,
      };
      let remaining = -1;
      for (let i = 0; i < 100 && remaining !== 3; i++) {
        await sleep(20);
        remaining = (await observer.consume('fn:one', [policy], 0))[0]?.remaining ?? -1;
      }
      expect(remaining).toBe(3); // without refunds the late charges leave 0

      // Exactly the remaining budget, and no 429 the client never earned.
      const after = [];
      for (let i = 0; i < 4; i++) after.push(await get());
      expect(after).toEqual([200, 200, 200, 429]);
      expect(reached).toBe(onStoreError === 'deny' ? 5 : 8);
    },
  );

  it('an answer that arrives in time is never refunded', async () => {
    const prefix = `${PREFIX}intime:`;
    const store = new RedisStore({ client: client(server), prefix });
    const refunds: unknown[] = [];
    const original = store.refund.bind(store);
    store.refund = async (...args) => {
      refunds.push(args);
      await original(...args);
    };
    const limiter = rateLimit({
      key: () => 'one',
      limit: 2,
      window: '1h',
      store,
      storeTimeout: '5s',
    });
    const host = await startHost((app) => {
      app.use(limiter);
      app.use((_req: GatewayRequest, res: ServerResponse) => res.end('ok'));
    });
    cleanups.push(async () => {
      await host.close();
      await limiter.close();
    });
    server.pause();
    const pending = Promise.all([1, 2, 3].map(() => fetch(host.url).then((r) => r.status)));
    await sleep(300); // a stall, but shorter than storeTimeout
    server.resume();
    expect((await pending).sort()).toEqual([200, 200, 429]);
    expect(refunds).toEqual([]);
  });
});
