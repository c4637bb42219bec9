import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The redis-server the tests that need a server of their own start (Redis 7.0 on the test
 * machines): `REDIS_SERVER_BIN` if set, else the first `redis-server` on the PATH (Homebrew puts
 * it in /opt/homebrew/bin, Linux packages in /usr/bin), as the README promises.
 */
export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? findOnPath('redis-server');

/** The first executable `name` in a directory of PATH, else `name` itself (reported missing). */
function findOnPath(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return name;
}

const HOST = '127.0.0.1';
/** How long a server may take to accept connections. */
const READY_TIMEOUT_MS = 10_000;

/** A redis-server process a test helper started, and the tail of its log (for error messages). */
export interface RedisProcess {
  readonly port: number;
  readonly child: ChildProcess;
  log(): string;
  exited(): boolean;
}

/** What was started and has not exited yet, killed at once if the worker exits first. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killOnExit(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A worker that exits without running afterAll (interrupted run) must leave no server
    // behind. 'exit' handlers must be synchronous, hence SIGKILL.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/**
 * Starts `redis-server` on `port` of 127.0.0.1 without persistence, with `extraArgs` (cluster
 * options, say), and resolves once it accepts connections; rejects (leaving no process behind)
 * if it exits first, e.g. because it lost its port, or is not ready within 10 s.
 *
 * @example
 * const server = await spawnRedisServer(port, []);
 */
export function spawnRedisServer(
  port: number,
  extraArgs: readonly string[],
): Promise<RedisProcess> {
  const child = spawn(
    REDIS_SERVER_BIN,
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  killOnExit(child);
  let log = '';
  let exited = false;
  const append = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const server: RedisProcess = { port, child, log: () => log, exited: () => exited };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`redis-server on port ${port} not ready in ${READY_TIMEOUT_MS} ms:\n${log}`),
      );
    }, READY_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited (${code ?? signal}):\n${log}`));
    });
    const onData = () => {
      if (!log.includes('Ready to accept connections')) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve(server);
    };
    child.stdout?.on('data', onData);
  });
}

/**
 * Stops a server: resumed first should it be paused (SIGCONT), then SIGTERM, which ends it at
 * once without persistence; SIGKILL if it is still there after 3 s. Does nothing once it exited.
 *
 * @example
 * await stopRedisProcess(server);
 */
export async function stopRedisProcess(server: RedisProcess): Promise<void> {
  if (server.exited() || server.child.exitCode !== null) return;
  const gone = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
  server.child.kill('SIGCONT');
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 3_000);
  await gone;
  clearTimeout(timer);
}
