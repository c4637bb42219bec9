// Two gateway instances sharing one Redis: every client gets one budget, not
// one per instance. Each instance has its own Redis connection, exactly as two
// processes (or two machines behind a load balancer) would.
//
//   redis-server &                      # Redis on 127.0.0.1:6379 (or set REDIS_URL)
//   npx tsx examples/redis-two-instances.ts
//
// It sends 8 requests alternating between the two instances (limit 5 a minute)
// and prints what each answered: 5 x 200, then 429s, from either instance.
// Then both keep running for your own curl until Ctrl-C (or pass --once).
import type { Server } from 'node:http';
import express from 'express';
import { Redis } from 'ioredis';
import { createGateway, RedisStore } from 'portcullis';
import { closeServer, startDemoUpstream } from './demo-upstreams.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const UPSTREAM_PORT = Number(process.env.UPSTREAM_PORT ?? 8093);
const PORTS = [Number(process.env.PORT_A ?? 8091), Number(process.env.PORT_B ?? 8092)];

const upstream = await startDemoUpstream('service', UPSTREAM_PORT);

interface Instance {
  name: string;
  port: number;
  server: Server;
  store: RedisStore;
  close(): Promise<void>;
}

async function startInstance(name: string, port: number): Promise<Instance> {
  // Fail fast rather than queue while Redis is away; the gateway fails open after storeTimeout.
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  redis.on('error', (err) => console.error(`[${name}] redis: ${err.message}`));
  // One store per instance, one Redis for all: same prefix, same counters.
  const store = new RedisStore({ client: redis, prefix: 'portcullis-example:' });
  const gateway = createGateway({
    store,
    rateLimit: { limit: 5, window: '1m', key: 'ip' },
    routes: [{ path: '/{*path}', target: `http://127.0.0.1:${UPSTREAM_PORT}` }],
    onEvent: (event) => {
      if (event.type.startsWith('ratelimit.')) console.log(`[${name}] event ${event.type}`);
    },
  });
  const app = express();
  // Behind a load balancer, trust it so req.ip (and so the rate limit key) is the client's address.
  app.set('trust proxy', 'loopback');
  app.use(gateway);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
  });
  return {
    name,
    port,
    server,
    store,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
      redis.disconnect(); // the gateway never closes a client you own
    },
  };
}

const instances = [
  await startInstance('A', PORTS[0] as number),
  await startInstance('B', PORTS[1] as number),
];
// A fresh budget for the demo client on every run (keys are 'ip:<address>' or 'id:<principal id>').
await instances[0]?.store.reset('ip:127.0.0.1');

for (let i = 0; i < 8; i++) {
  const instance = instances[i % 2] as Instance;
  const res = await fetch(`http://127.0.0.1:${instance.port}/hello`);
  console.log(
    `request ${i + 1} -> instance ${instance.name}: ${res.status}  RateLimit: ${res.headers.get('ratelimit')}` +
      (res.status === 429 ? `  Retry-After: ${res.headers.get('retry-after')}` : ''),
  );
  await res.arrayBuffer();
}

async function shutdown(code = 0): Promise<void> {
  await Promise.allSettled([...instances.map((i) => i.close()), closeServer(upstream)]);
  process.exit(code);
}

if (process.argv.includes('--once')) {
  await shutdown();
} else {
  console.log(`\nBoth instances share one budget per client; try:`);
  for (const i of instances) console.log(`  curl -i http://127.0.0.1:${i.port}/hello`);
  console.log('Ctrl-C to stop.');
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}
