import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { describe } from 'vitest';
import { RedisStore } from '../../src/stores/redis-store.js';
import { runStoreConformance } from '../conformance/store-conformance.js';
import { requireRedis, uniquePrefix } from '../helpers/redis.js';

const hasRedis = await requireRedis('RedisStore conformance');

async function ttlsOf(admin: Redis, pattern: string): Promise<number[]> {
  const keys = await admin.keys(pattern);
  return Promise.all(keys.map((key) => admin.pttl(key)));
}

describe.skipIf(!hasRedis)('RedisStore', () => {
  runStoreConformance('RedisStore (ioredis)', async () => {
    const client = new Redis({ host: '127.0.0.1', port: 6379 });
    const prefix = uniquePrefix('conf-ioredis');
    const store = new RedisStore({ client, prefix });
    return {
      store,
      ttls: (key) => ttlsOf(client, `${prefix}{${key}}*`),
      close: async () => {
        await store.close();
        client.disconnect();
      },
    };
  });

  runStoreConformance('RedisStore (node-redis)', async () => {
    const client = createClient({ url: 'redis://127.0.0.1:6379' });
    await client.connect();
    const admin = new Redis({ host: '127.0.0.1', port: 6379 });
    const prefix = uniquePrefix('conf-node-redis');
    const store = new RedisStore({ client, prefix });
    return {
      store,
      ttls: (key) => ttlsOf(admin, `${prefix}{${key}}*`),
      close: async () => {
        await store.close();
        await client.quit();
        admin.disconnect();
      },
    };
  });

  runStoreConformance('RedisStore (sendCommand)', async () => {
    const client = new Redis({ host: '127.0.0.1', port: 6379 });
    const prefix = uniquePrefix('conf-send');
    const store = new RedisStore({
      sendCommand: (command, ...args) => client.call(command, ...args),
      prefix,
    });
    return {
      store,
      ttls: (key) => ttlsOf(client, `${prefix}{${key}}*`),
      close: async () => {
        client.disconnect();
      },
    };
  });
});
