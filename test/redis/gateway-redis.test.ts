// Two gateway instances (two Express hosts) sharing one RedisStore on the
// real Redis: the README's multi-instance recipe. A client's budget is one
// budget across both instances, exactly.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, RedisStore } from '../../src/index.js';
import { type Host, startHost } from '../helpers/host.js';
import { requireRedis, uniquePrefix } from '../helpers/redis.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const hasRedis = await requireRedis('createGateway with a RedisStore');

describe.skipIf(!hasRedis)('createGateway with a RedisStore shared by two instances', () => {
  let upstream: Upstream;
  let clients: Redis[] = [];
  let hosts: Host[] = [];
  let gateways: Array<ReturnType<typeof createGateway>> = [];
  const prefix = uniquePrefix('gateway');

  beforeAll(async () => {
    upstream = await startUpstream();
    for (const major of [4, 5] as const) {
      const client = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false });
      clients.push(client);
      const gateway = createGateway({
        auth: { apiKey: { keys: [{ id: 'alice', key: 'alice-key-for-redis-test' }] } },
        rateLimit: { limit: 7, window: '1m' },
        store: new RedisStore({ client, prefix }),
        routes: [{ path: '/svc{/*path}', target: upstream.url, rewrite: '/{*path}' }],
      });
      gateways.push(gateway);
      hosts.push(await startHost((app) => app.use('/api', gateway), major));
    }
  });

  afterAll(async () => {
    for (const host of hosts) await host.close();
    for (const gateway of gateways) await gateway.close();
    // close() never closes a client the user passed in: it still answers.
    expect(await clients[0]?.ping()).toBe('PONG');
    for (const client of clients) client.disconnect();
    await upstream.close();
    hosts = [];
    gateways = [];
    clients = [];
  });

  it('admits exactly the limit across both instances, concurrently', async () => {
    const requests = Array.from({ length: 20 }, (_, i) =>
      fetch(`${hosts[i % 2]?.url}/api/svc/items`, {
        headers: { 'x-api-key': 'alice-key-for-redis-test' },
      }).then(async (res) => {
        await res.arrayBuffer();
        return res.status;
      }),
    );
    const statuses = await Promise.all(requests);
    expect(statuses.filter((s) => s === 200)).toHaveLength(7);
    expect(statuses.filter((s) => s === 429)).toHaveLength(13);
    expect(upstream.received).toHaveLength(7);
    // The counters live in Redis, with a TTL.
    const keys = await clients[0]?.keys(`${prefix}*`);
    expect(keys?.length).toBeGreaterThan(0);
    for (const key of keys ?? []) expect(await clients[0]?.pttl(key)).toBeGreaterThan(0);
  });
});
