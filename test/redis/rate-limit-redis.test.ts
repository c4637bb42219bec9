import type { ServerResponse } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rateLimit } from '../../src/rate-limit/rate-limit.js';
import type { RateLimitOptions } from '../../src/schema/rate-limit.js';
import { RedisStore } from '../../src/stores/redis-store.js';
import type { Algorithm, Policy } from '../../src/stores/types.js';
import type { GatewayEvent, GatewayRequest } from '../../src/types.js';
import { type GatewayProcess, startGatewayProcess } from '../helpers/gateway-process.js';
import { type Host, startHost } from '../helpers/host.js';
import { awayFromMinuteBoundary } from '../helpers/minute-boundary.js';
import { requireRedis, uniquePrefix } from '../helpers/redis.js';
import { requireRedisServer } from '../helpers/redis-cluster.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { closedPort } from '../helpers/upstream.js';

const hasRedis = await requireRedis('rateLimit with RedisStore');
const hasServer = await requireRedisServer(
  'rateLimit with RedisStore: SCRIPT FLUSH on a server of its own',
);
const PREFIX = uniquePrefix('rl-redis');

let admin: Redis;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});
beforeEach(awayFromMinuteBoundary);

/** An Express host with rateLimit() on `store`, keyed to one shared client; counts what reached the handler. */
async function host(
  options: RateLimitOptions,
  /** Runs before the limiter on every request (to make the host busy at a chosen moment). */
  before?: (req: GatewayRequest) => void,
): Promise<{ h: Host; reached: () => number; events: GatewayEvent[]; durations: number[] }> {
  let reached = 0;
  const events: GatewayEvent[] = [];
  // Server-side time from the limiter's start to the response's end (no client overhead).
  const durations: number[] = [];
  const limiter = rateLimit({
    key: () => 'one-client',
    ...options,
    onEvent: (e) => events.push(e),
  });
  const h = await startHost((app) => {
    app.use((_req: GatewayRequest, res: ServerResponse, next: () => void) => {
      const started = performance.now();
      res.on('finish', () => durations.push(performance.now() - started));
      before?.(_req);
      next();
    });
    app.use(limiter);
    app.use((_req: GatewayRequest, res: ServerResponse) => {
      reached++;
      res.end('ok');
    });
  });
  cleanups.push(async () => {
    await h.close();
    await limiter.close();
  });
  return { h, reached: () => reached, events, durations };
}

function quietClient(port: number, extra: Record<string, unknown> = {}): Redis {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, ...extra });
  client.on('error', () => {});
  cleanups.push(async () => {
    client.disconnect();
  });
  return client;
}

describe.skipIf(!hasRedis)('rateLimit() with RedisStore', () => {
  beforeAll(() => {
    admin = new Redis({ host: '127.0.0.1', port: 6379 });
  });
  afterAll(async () => {
    const keys = await admin.keys(`${PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
    admin.disconnect();
  });

  it('two gateway processes sharing one Redis admit exactly 10 of 100 concurrent requests', async () => {
    const prefix = `${PREFIX}two:`;
    const processes: GatewayProcess[] = await Promise.all([
      startGatewayProcess('rate-limit-redis-server.ts', { RL_PREFIX: prefix, RL_LIMIT: '10' }),
      startGatewayProcess('rate-limit-redis-server.ts', {
        RL_PREFIX: prefix,
        RL_LIMIT: '10',
        RL_CLIENT: 'node-redis',
      }),
    ]);
    cleanups.push(async () => {
      await Promise.all(processes.map((p) => p.stop()));
    });
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        fetch(`http://127.0.0.1:${processes[i % 2]?.port}/x`).then(async (r) => ({
          status: r.status,
          body: await r.text(),
        })),
      ),
    );
    const ok = responses.filter((r) => r.status === 200);
    expect(ok).toHaveLength(10);
    expect(responses.filter((r) => r.status === 429)).toHaveLength(90);
    // Every admitted request carried its decision; the admissions came from the two processes.
    const bodies = ok.map((r) => JSON.parse(r.body) as { pid: number; rateLimit: unknown[] });
    for (const body of bodies) expect(body.rateLimit).toHaveLength(1);
    expect(new Set(bodies.map((b) => b.pid)).has(process.pid)).toBe(false);
    expect(processes.every((p) => p.child.exitCode === null)).toBe(true);
  });

  it.each<Algorithm>(['token-bucket', 'fixed-window', 'sliding-window'])(
    '%s admits exactly 10 of 100 concurrent requests through one process',
    async (algorithm) => {
      const client = new Redis({ host: '127.0.0.1', port: 6379 });
      cleanups.push(async () => {
        client.disconnect();
      });
      const store = new RedisStore({ client, prefix: `${PREFIX}one-${algorithm}:` });
      // A generous storeTimeout: on a loaded machine a timeout would fail open and admit more.
      const { h, reached } = await host({
        limit: 10,
        window: '1m',
        algorithm,
        store,
        storeTimeout: '5s',
      });
      const statuses = await Promise.all(
        Array.from({ length: 100 }, () => fetch(h.url).then((r) => r.status)),
      );
      expect(statuses.filter((s) => s === 200)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(90);
      expect(reached()).toBe(10);
    },
  );

  it('one script call carrying requests with different policy sets decides each under its own', async () => {
    const client = new Redis({ host: '127.0.0.1', port: 6379 });
    cleanups.push(async () => {
      client.disconnect();
    });
    const sent: string[] = [];
    // Looks like an ioredis client (so the store batches), and records what it sends.
    const recording = {
      call: (command: string, ...args: Array<string | number>) => {
        sent.push(command);
        return client.call(command, ...args);
      },
    };
    const store = new RedisStore({ client: recording, prefix: `${PREFIX}sets:` });
    const tb: Policy = { name: 'tb', limit: 5, windowMs: 60_000, algorithm: 'token-bucket' };
    const fw: Policy = { name: 'fw', limit: 3, windowMs: 60_000, algorithm: 'fixed-window' };
    const sw: Policy = { name: 'sw', limit: 4, windowMs: 60_000, algorithm: 'sliding-window' };
    const one = [tb];
    const two = [fw, sw];
    const three = [sw, tb, fw];
    await store.consume('warm', one, 1); // the script is loaded (EVAL) before the batch
    sent.length = 0;
    const results = await Promise.all([
      store.consume('a', one, 1), // nothing in flight: sent at once, alone
      store.consume('b', two, 2), // the rest of the turn: one call
      store.consume('a', one, 3),
      store.consume('c', three, 1),
      store.consume('b', two, 2),
      store.consume('c', [sw], 0),
    ]);
    expect(sent).toEqual(['EVALSHA', 'EVALSHA']);
    const brief = (ds: Array<{ policy: string; allowed: boolean; remaining: number }>) =>
      ds.map((d) => [d.policy, d.allowed, d.remaining]);
    expect(results.map(brief)).toEqual([
      [['tb', true, 4]],
      [
        ['fw', true, 1],
        ['sw', true, 2],
      ],
      [['tb', true, 1]],
      [
        ['sw', true, 3],
        ['tb', true, 4],
        ['fw', true, 2],
      ],
      // fw has 1 left, so a cost of 2 is refused and nothing is charged (sw still reports 2).
      [
        ['fw', false, 0],
        ['sw', true, 2],
      ],
      [['sw', true, 3]],
    ]);
  });

  it('a lone decision is sent at once; those asked for while it travels go together', async () => {
    const client = new Redis({ host: '127.0.0.1', port: 6379 });
    cleanups.push(async () => {
      client.disconnect();
    });
    const sent: number[] = [];
    const recording = {
      call: (command: string, ...args: Array<string | number>) => {
        // The number of requests in the call (ARGV[1], after the keys).
        if (command === 'EVALSHA') sent.push(Number(args[2 + Number(args[1])]));
        return client.call(command, ...args);
      },
    };
    const store = new RedisStore({ client: recording, prefix: `${PREFIX}lone:` });
    const p: Policy = { name: 'lone', limit: 100, windowMs: 60_000, algorithm: 'token-bucket' };
    await store.consume('warm', [p], 1); // EVAL, so the script is loaded
    const first = store.consume('k1', [p], 1);
    // Sent in the same turn, not at its end: no setImmediate wait for a lone decision.
    expect(sent).toEqual([1]);
    const rest = [store.consume('k2', [p], 1), store.consume('k3', [p], 1)];
    expect(sent).toEqual([1]);
    await Promise.all([first, ...rest]);
    expect(sent).toEqual([1, 2]);
    // One after another (the way a lone client asks), each goes at once.
    for (let i = 0; i < 3; i++) {
      const pending = store.consume(`seq${i}`, [p], 1);
      expect(sent).toHaveLength(3 + i);
      await pending;
    }
  });

  it('reads token-bucket and fixed-window state written as text by an earlier version, on both paths of the script', async () => {
    const client = new Redis({ host: '127.0.0.1', port: 6379 });
    cleanups.push(async () => {
      client.disconnect();
    });
    const prefix = `${PREFIX}text:`;
    const store = new RedisStore({ client, prefix });
    const tb: Policy = { name: 'tb', limit: 5, windowMs: 60_000, algorithm: 'token-bucket' };
    const fw: Policy = { name: 'fw', limit: 5, windowMs: 3_600_000, algorithm: 'fixed-window' };
    const [seconds, micros] = (await client.time()) as [number, number];
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const start = now - (now % fw.windowMs);
    // Two units used in each, written as "level at until exp" / "start count until".
    for (const k of ['alone', 'b1', 'b2']) {
      await client.set(
        `${prefix}{${k}}:tb:t`,
        `${2 * 60_000} ${now} 0 ${now + 60_000}`,
        'PX',
        60_000,
      );
      await client.set(`${prefix}{${k}}:fw:f`, `${start} 2 0`, 'PX', 60_000);
    }
    const alone = await store.consume('alone', [tb], 1); // the short path
    // The general loop: several policies, or another algorithm.
    const b1 = await store.consume('b1', [tb, fw], 1);
    const b2 = await store.consume('b2', [fw], 1);
    expect(alone[0]).toMatchObject({ allowed: true, remaining: 2 });
    expect(b1.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 2],
      [true, 2],
    ]);
    expect(b2[0]).toMatchObject({ allowed: true, remaining: 2 });
    // Rewritten packed (marker byte 1), with a TTL.
    const packed = await client.getBuffer(`${prefix}{alone}:tb:t`);
    expect(packed?.[0]).toBe(1);
    expect(await client.pttl(`${prefix}{alone}:tb:t`)).toBeGreaterThan(0);
  });

  it('decides all policies of a request in one round trip', async () => {
    const client = new Redis({ host: '127.0.0.1', port: 6379 });
    cleanups.push(async () => {
      client.disconnect();
    });
    const sent: string[] = [];
    const store = new RedisStore({
      sendCommand: (command, ...args) => {
        sent.push(command);
        return client.call(command, ...args);
      },
      prefix: `${PREFIX}trips:`,
    });
    const policies: Policy[] = [
      { name: 'a', limit: 5, windowMs: 1_000, algorithm: 'token-bucket' },
      { name: 'b', limit: 50, windowMs: 60_000, algorithm: 'fixed-window' },
      { name: 'c', limit: 9, windowMs: 10_000, algorithm: 'sliding-window' },
    ];
    for (let i = 0; i < 4; i++) await store.consume('k', policies, 1);
    expect(sent).toEqual(['EVAL', 'EVALSHA', 'EVALSHA', 'EVALSHA']);
  });

  // SCRIPT FLUSH is server-wide: it runs on a redis-server of this test's own, never on 6379.
  it.skipIf(!hasServer)(
    'recovers when the script cache is flushed mid-run (SCRIPT FLUSH), keeping the counts',
    async () => {
      const server = await startRedisServer();
      const client = new Redis({ host: server.host, port: server.port });
      cleanups.push(async () => {
        client.disconnect();
        await server.stop();
      });
      const store = new RedisStore({ client, prefix: `${PREFIX}flush:` });
      const { h } = await host({
        limit: 6,
        window: '1m',
        store,
        onStoreError: 'deny',
        storeTimeout: '5s',
      });
      for (let i = 0; i < 3; i++) expect((await fetch(h.url)).status).toBe(200);
      await client.script('FLUSH');
      const statuses = await Promise.all(
        Array.from({ length: 6 }, () => fetch(h.url).then((r) => r.status)),
      );
      expect(statuses.filter((s) => s === 200)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(3);
      expect(statuses).not.toContain(503);
    },
  );

  it('runs on Redis time: a host clock far off changes nothing', async () => {
    const client = new Redis({ host: '127.0.0.1', port: 6379 });
    cleanups.push(async () => {
      client.disconnect();
    });
    const store = new RedisStore({ client, prefix: `${PREFIX}skew:` });
    const policy: Policy = { name: 'skew', limit: 2, windowMs: 60_000, algorithm: 'fixed-window' };
    const realNow = Date.now;
    try {
      Date.now = () => realNow() - 3_600_000;
      await store.consume('k', [policy], 1);
      Date.now = () => realNow() + 3_600_000;
      const [second] = await store.consume('k', [policy], 1);
      expect(second).toMatchObject({ allowed: true, remaining: 0 });
      expect(second?.resetMs).toBeLessThanOrEqual(60_000);
      const [third] = await store.consume('k', [policy], 1);
      expect(third?.allowed).toBe(false);
    } finally {
      Date.now = realNow;
    }
  });

  it('four gateway processes with the default storeTimeout admit exactly 100 of 400 concurrent requests', async () => {
    // Freshly started (cold) processes take a burst for longer than the default 100 ms; the
    // timeout must judge Redis, not the host, or the late answers would fail open.
    const prefix = `${PREFIX}four:`;
    const env = { RL_PREFIX: prefix, RL_LIMIT: '100', RL_WINDOW: '1h' };
    const processes: GatewayProcess[] = await Promise.all([
      startGatewayProcess('rate-limit-redis-server.ts', env),
      startGatewayProcess('rate-limit-redis-server.ts', { ...env, RL_CLIENT: 'node-redis' }),
      startGatewayProcess('rate-limit-redis-server.ts', env),
      startGatewayProcess('rate-limit-redis-server.ts', { ...env, RL_CLIENT: 'node-redis' }),
    ]);
    cleanups.push(async () => {
      await Promise.all(processes.map((p) => p.stop()));
    });
    const statuses = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        fetch(`http://127.0.0.1:${processes[i % 4]?.port}/x`).then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(300);
  });

  let busyRuns = 0;
  it.each([
    ['before the batch is sent (the same turn)', (block: () => void) => process.nextTick(block)],
    [
      'after it was sent, while the answer arrives',
      (block: () => void) => setImmediate(() => setImmediate(block)),
    ],
  ])(
    'a host busy for 150 ms %s is no store timeout: the answer is used',
    async (_when, schedule) => {
      const client = new Redis({ host: '127.0.0.1', port: 6379 });
      cleanups.push(async () => {
        client.disconnect();
      });
      const store = new RedisStore({ client, prefix: `${PREFIX}busy-${++busyRuns}:` });
      const { h, events } = await host({ limit: 1, window: '1h', store }, (req) => {
        if (req.headers['x-block'] === undefined) return;
        schedule(() => {
          const end = performance.now() + 150;
          while (performance.now() < end) {} // the host's own work, e.g. a large JSON.parse
        });
      });
      expect((await fetch(h.url)).status).toBe(200);
      // The default storeTimeout (100 ms) is shorter than the block.
      const res = await fetch(h.url, { headers: { 'x-block': '1' } });
      expect(res.status).toBe(429);
      expect(events.filter((e) => e.type === 'ratelimit.store_error')).toEqual([]);
      expect(events.filter((e) => e.type === 'ratelimit.refused')).toHaveLength(1);
    },
  );

  // Timing tests: retried, since a shared machine can stall the event loop for longer than 50 ms.
  it('Redis at a closed port: fails open and closed within storeTimeout + 50 ms', {
    retry: 2,
  }, async () => {
    const port = await closedPort();
    for (const onStoreError of ['allow', 'deny'] as const) {
      const store = new RedisStore({ client: quietClient(port), prefix: `${PREFIX}closed:` });
      const { h, reached, events } = await host({
        limit: 1,
        window: '1m',
        store,
        storeTimeout: '100ms',
        onStoreError,
      });
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const res = await fetch(h.url);
        expect(performance.now() - t).toBeLessThan(150);
        expect(res.status).toBe(onStoreError === 'allow' ? 200 : 503);
      }
      expect(reached()).toBe(onStoreError === 'allow' ? 3 : 0);
      // Without request.completed: standalone rateLimit() also reports the 503s it answered.
      const storeEvents = events.filter((e) => e.type !== 'request.completed');
      expect(
        storeEvents.every((e) => e.type === 'ratelimit.store_error' && e.action === onStoreError),
      ).toBe(true);
      expect(storeEvents).toHaveLength(3);
    }
  });

  it('a Redis that accepts and never answers: fails open and closed within storeTimeout + 50 ms', {
    retry: 2,
  }, async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    );
    const port = (silent.address() as { port: number }).port;
    for (const onStoreError of ['allow', 'deny'] as const) {
      const store = new RedisStore({
        client: quietClient(port, { enableReadyCheck: false }),
        prefix: `${PREFIX}silent:`,
      });
      const { h, events } = await host({
        limit: 1,
        window: '1m',
        store,
        storeTimeout: '100ms',
        onStoreError,
      });
      const started = performance.now();
      const statuses = await Promise.all(
        Array.from({ length: 5 }, () => fetch(h.url).then((r) => r.status)),
      );
      expect(performance.now() - started).toBeLessThan(150);
      expect(new Set(statuses)).toEqual(new Set([onStoreError === 'allow' ? 200 : 503]));
      expect(events[0]).toMatchObject({ type: 'ratelimit.store_error', error: 'timeout' });
    }
  });

  it('recovers by itself when Redis comes back', async () => {
    // A TCP relay in front of the real Redis that can be cut and restored.
    const sockets = new Set<Socket>();
    let relay: Server | null = null;
    const listen = (port: number) =>
      new Promise<void>((resolve) => {
        relay = createServer((socket) => {
          const redis = connect(6379, '127.0.0.1');
          sockets.add(socket);
          sockets.add(redis);
          socket.pipe(redis).pipe(socket);
          socket.on('error', () => redis.destroy());
          redis.on('error', () => socket.destroy());
        });
        relay.listen(port, '127.0.0.1', () => resolve());
      });
    const cut = () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        sockets.clear();
        if (relay) relay.close(() => resolve());
        else resolve();
      });
    const port = await closedPort();
    await listen(port);
    cleanups.push(cut);
    const client = quietClient(port, { retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    const store = new RedisStore({ client, prefix: `${PREFIX}back:` });
    const { h, events } = await host({ limit: 3, window: '1m', store, storeTimeout: '300ms' });
    expect((await fetch(h.url)).status).toBe(200);
    expect(events).toHaveLength(0);
    await cut();
    expect((await fetch(h.url)).status).toBe(200); // fails open
    expect(events.some((e) => e.type === 'ratelimit.store_error')).toBe(true);
    await listen(port);
    let counted = false;
    for (let i = 0; i < 40 && !counted; i++) {
      await sleep(50);
      const res = await fetch(h.url);
      counted = res.headers.get('ratelimit') !== null;
    }
    expect(counted).toBe(true);
    // Counting again: the bucket of 3 now refuses.
    const statuses = await Promise.all(
      Array.from({ length: 4 }, () => fetch(h.url).then((r) => r.status)),
    );
    expect(statuses).toContain(429);
  });
});
