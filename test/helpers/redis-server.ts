import { createServer } from 'node:net';
import { type RedisProcess, spawnRedisServer, stopRedisProcess } from './redis-process.js';

/**
 * A redis-server of a test's own, on a free port: for tests that pause a server
 * (SIGSTOP), flush its scripts or run other server-wide commands, which must never
 * touch the Redis on 6379 that everyone shares. Skip with `requireRedisServer`
 * (./redis-cluster.ts) when the binary is missing.
 */
export interface OwnRedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** SIGSTOP: the server keeps its connections but answers nothing until resumed. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stops the server (resuming it first if paused). Safe to call twice. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

/** A port that was free a moment ago (the kernel picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a plain (non-cluster) redis-server without persistence on a free port
 * of 127.0.0.1, retrying on another port if it loses a race for one.
 *
 * @example
 * const server = await startRedisServer();
 * const client = new Redis({ host: server.host, port: server.port });
 * server.pause(); … server.resume();
 * await server.stop();
 */
export async function startRedisServer(): Promise<OwnRedisServer> {
  let server: RedisProcess | undefined;
  for (let attempt = 1; server === undefined; attempt++) {
    try {
      server = await spawnRedisServer(await freePort(), []);
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
  const { child, port } = server;
  const started = server;
  return {
    host: HOST,
    port,
    pause: () => {
      child.kill('SIGSTOP');
    },
    resume: () => {
      child.kill('SIGCONT');
    },
    stop: () => stopRedisProcess(started),
  };
}
