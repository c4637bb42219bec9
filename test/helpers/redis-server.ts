import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { REDIS_SERVER_BIN } from './redis-cluster.js';

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
const READY_TIMEOUT_MS = 10_000;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

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

function start(port: number): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER_BIN,
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A worker that exits without its afterAll must leave no server behind (synchronous hook).
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`redis-server on port ${port} not ready in ${READY_TIMEOUT_MS} ms:\n${log}`),
      );
    }, READY_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4_000);
      if (!log.includes('Ready to accept connections')) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve(child);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4_000);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited (${code ?? signal}):\n${log}`));
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
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await start(port);
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
  const server = child;
  let stopped = false;
  return {
    host: HOST,
    port,
    pause: () => {
      server.kill('SIGSTOP');
    },
    resume: () => {
      server.kill('SIGCONT');
    },
    async stop() {
      if (stopped || server.exitCode !== null) return;
      stopped = true;
      const gone = new Promise<void>((resolve) => server.once('exit', () => resolve()));
      server.kill('SIGCONT');
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 3_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
