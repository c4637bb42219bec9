// The benchmarks' Redis connection: local Redis only, no endless reconnects.

import { Redis } from 'ioredis';
import { REDIS_HOST, REDIS_PORT } from './constants.js';
import { firstLine, Unavailable } from './portcullis.js';

/** Connects to the local Redis, or throws Unavailable saying why (the row is then skipped). */
export async function connectRedis(): Promise<Redis> {
  const client = new Redis({
    host: REDIS_HOST,
    port: REDIS_PORT,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  client.on('error', () => {}); // reported through connect()/ping() below
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (err) {
    client.disconnect();
    throw new Unavailable(
      `Redis at ${REDIS_HOST}:${REDIS_PORT} does not answer (${firstLine(err)})`,
    );
  }
}
