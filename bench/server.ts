// One scenario's server, run in its own process by run.ts / profile.ts:
//   node --import tsx bench/server.ts <scenario> <upstreamPort> <redisPrefix>
// Listens on 127.0.0.1:0 and reports { type: 'ready', port } over IPC, or
// { type: 'unavailable', reason } when the stack cannot be built (a part of portcullis
// not written yet, Redis not answering) so the run reports the scenario instead of crashing.

import { Agent, type Server } from 'node:http';
import express, { type Express, type RequestHandler } from 'express';
import { rateLimit as expressRateLimit } from 'express-rate-limit';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { Redis } from 'ioredis';
import { RedisStore as RateLimitRedisStore, type RedisReply } from 'rate-limit-redis';
import { answerCpuQueries, exitWithParent, report } from './lib/children.js';
import { BENCH_KEY, NEVER_REACHED_LIMIT, OTHER_KEYS } from './lib/constants.js';
import { startTracing } from './lib/otel.js';
import { firstLine, loadMetrics, loadPortcullis, Unavailable } from './lib/portcullis.js';
import { answerProfileRequests } from './lib/profiling.js';
import { connectRedis } from './lib/redis.js';
import { isScenarioName, type ScenarioName } from './lib/scenarios.js';

interface Built {
  app: Express;
  close: () => Promise<void>;
}

const [scenarioArg, upstreamPortArg, prefixArg] = process.argv.slice(2);
if (!isScenarioName(scenarioArg) || upstreamPortArg === undefined || prefixArg === undefined) {
  throw new Error('usage: server.ts <scenario> <upstreamPort> <redisPrefix>');
}
const target = `http://127.0.0.1:${upstreamPortArg}`;

/**
 * The peers get a keep-alive agent of their own, as a user who tuned them would, so that both
 * sides run with the same agent settings (portcullis keeps a keep-alive agent per route).
 * http-proxy-middleware 4 (httpxy) keeps connections alive out of the box too, through agents
 * it shares process-wide (at most 256 sockets each); BENCH_PEER_AGENT=default measures the peers
 * that way.
 */
const peerAgent =
  process.env.BENCH_PEER_AGENT === 'default' ? undefined : new Agent({ keepAlive: true });
const proxyOptions = peerAgent ? { target, agent: peerAgent } : { target };

/** The API-key check as users hand-write it: look the header up in a Set. */
function handWrittenApiKeyCheck(): RequestHandler {
  const apiKeys = new Set([BENCH_KEY, ...OTHER_KEYS]);
  return (req, res, next) => {
    const key = req.get('x-api-key');
    if (key === undefined || !apiKeys.has(key)) {
      res.status(401).json({ error: 'invalid or missing API key' });
      return;
    }
    next();
  };
}

/** express-rate-limit as its README configures it. */
function handComposedLimiter(store?: RateLimitRedisStore): RequestHandler {
  return expressRateLimit({
    windowMs: 60_000,
    limit: NEVER_REACHED_LIMIT,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ...(store ? { store } : {}),
  });
}

async function build(scenario: ScenarioName): Promise<Built> {
  const app = express();
  switch (scenario) {
    case 'direct':
      throw new Error('direct has no server of its own: load goes straight to the upstream');
    case 'hpm-bare': {
      app.use(createProxyMiddleware(proxyOptions));
      return { app, close: async () => peerAgent?.destroy() };
    }
    case 'hand-composed':
    case 'hand-composed-redis': {
      let redis: Redis | null = null;
      let store: RateLimitRedisStore | undefined;
      if (scenario === 'hand-composed-redis') {
        const client = await connectRedis();
        redis = client;
        store = new RateLimitRedisStore({
          // ioredis's call() resolves to `unknown`; Redis answers these scripts with RedisReply.
          sendCommand: (command: string, ...args: string[]) =>
            client.call(command, args) as Promise<RedisReply>,
          prefix: `${prefixArg}erl:`,
        });
      }
      app.use('/api', handWrittenApiKeyCheck());
      app.use('/api', handComposedLimiter(store));
      app.use('/api', createProxyMiddleware({ ...proxyOptions, pathRewrite: { '^/svc': '' } }));
      return {
        app,
        close: async () => {
          await redis?.quit();
          peerAgent?.destroy();
        },
      };
    }
    case 'portcullis':
    case 'portcullis+metrics':
    case 'portcullis+otel':
    case 'portcullis-redis': {
      const { createGateway, RedisStore } = await loadPortcullis();
      // Subscribed before the gateway exists, as an app would do at startup; the same gateway
      // as 'portcullis' otherwise, so the two differ by the metrics alone.
      const metrics =
        scenario === 'portcullis+metrics' ? (await loadMetrics()).prometheusMetrics() : null;
      if (metrics) app.get('/metrics', metrics.handler);
      // Likewise registered at startup, before the gateway; the same gateway otherwise.
      const tracing = scenario === 'portcullis+otel' ? startTracing() : null;
      let redis: Redis | null = null;
      let store: InstanceType<typeof RedisStore> | undefined;
      if (scenario === 'portcullis-redis') {
        redis = await connectRedis();
        store = new RedisStore({ client: redis, prefix: `${prefixArg}pc:` });
      }
      const config = {
        auth: {
          apiKey: {
            keys: [BENCH_KEY, ...OTHER_KEYS].map((key, i) => ({ id: `consumer-${i}`, key })),
          },
        },
        rateLimit: { limit: NEVER_REACHED_LIMIT, window: '1m' },
        routes: [{ path: '/svc{/*path}', target, rewrite: '/{*path}' }],
      };
      const gateway = createGateway(store ? { ...config, store } : config);
      app.use('/api', gateway);
      return {
        app,
        close: async () => {
          await metrics?.close();
          await tracing?.close();
          await gateway.close();
          await store?.close?.();
          await redis?.quit();
        },
      };
    }
  }
}

let server: Server | null = null;
let closeStack: () => Promise<void> = async () => {};

answerCpuQueries();
answerProfileRequests();
exitWithParent(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  }
  await closeStack();
});

try {
  const built = await build(scenarioArg);
  closeStack = built.close;
  const listening = built.app.listen(0, '127.0.0.1', () => {
    const address = listening.address();
    if (address === null || typeof address === 'string') throw new Error('server: no TCP address');
    report({ type: 'ready', port: address.port });
  });
  listening.keepAliveTimeout = 65_000;
  server = listening;
} catch (err) {
  if (err instanceof Unavailable) report({ type: 'unavailable', reason: err.message });
  else report({ type: 'failed', reason: `could not be built: ${firstLine(err)}` });
}
