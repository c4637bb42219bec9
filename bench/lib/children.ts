// Child processes of the benchmark: each server runs in its own process (its own heap and
// event loop), started with tsx so it runs the repository's TypeScript as it is now.
// Every child started here is tracked and stopped on exit, on errors and on Ctrl-C.

import { type ChildProcess, fork } from 'node:child_process';

/** tsx's ESM loader, resolved absolutely so the children work from any working directory. */
const TSX_LOADER = import.meta.resolve('tsx');

const running = new Set<ChildProcess>();

/** What a child server reports over IPC once it has started (or found it cannot). */
export type ChildReport =
  | { type: 'ready'; port: number }
  | { type: 'unavailable'; reason: string }
  | { type: 'failed'; reason: string }
  | { type: 'result'; data: unknown }
  | { type: 'cpu'; id: number; micros: number }
  /** The answer to a profiling request (bench/lib/profiling.ts); `error` when it failed. */
  | { type: 'profile'; id: number; error?: string };

export interface ForkOptions {
  /** Extra Node flags, e.g. `--cpu-prof`. */
  execArgv?: string[];
  /** Inherit stdout (default) or drop it. */
  quiet?: boolean;
  /** Environment variables added to this process's. */
  env?: Record<string, string>;
}

/** Starts `file` (TypeScript) in a new Node process with an IPC channel. */
export function forkTs(file: string, args: string[], options: ForkOptions = {}): ChildProcess {
  const child = fork(file, args, {
    execArgv: ['--import', TSX_LOADER, ...(options.execArgv ?? [])],
    stdio: ['ignore', options.quiet ? 'ignore' : 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...options.env, NODE_ENV: 'production' },
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Tracks a process started elsewhere (the wrk load generator) so it is stopped with the rest. */
export function trackProcess(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/** Waits for the child's first report; rejects if it exits or stays silent for `timeoutMs`. */
export function firstReport(child: ChildProcess, timeoutMs: number): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`child ${child.pid} sent no report within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: unknown): void => {
      cleanup();
      resolve(message as ChildReport); // our own children send only ChildReport objects
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanup();
      reject(
        new Error(`child ${child.pid} exited (code ${code}, signal ${signal}) before reporting`),
      );
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Stops one child: SIGTERM (children exit cleanly on it, writing any CPU profile), then SIGKILL. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Stops every child this process started. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((child) => stopChild(child)));
}

let handlersInstalled = false;

/**
 * Makes sure no child outlives this process: on Ctrl-C / SIGTERM every child is stopped
 * before exiting; on a plain exit the survivors are killed synchronously.
 */
export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}, stopping ${running.size} child process(es)…\n`);
    stopAllChildren().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/**
 * For a child: exit when the parent goes away (IPC closed) or asks us to stop (SIGTERM),
 * after `close` ran, with a normal exit so `--cpu-prof` writes its profile.
 */
export function exitWithParent(close: () => Promise<void>): void {
  let closing = false;
  const shutdown = (): void => {
    if (closing) return;
    closing = true;
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    close()
      .catch(() => {})
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('disconnect', shutdown);
}

/** For a child: send a report to the parent. */
export function report(message: ChildReport): void {
  process.send?.(message);
}

/** This process's CPU time so far (user + system), in microseconds. */
export function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** For a child: answer the parent's `{ cpu: true, id }` with this process's CPU time. */
export function answerCpuQueries(): void {
  process.on('message', (message: unknown) => {
    const m = message as { cpu?: unknown; id?: unknown } | null;
    if (m?.cpu === true && typeof m.id === 'number') {
      report({ type: 'cpu', id: m.id, micros: cpuMicros() });
    }
  });
}

let nextQuery = 1;

/**
 * Sends `message` with a fresh `id` to a child and resolves its answer: the first report of
 * `type` that carries the same id.
 */
export function ask<T extends 'cpu' | 'profile'>(
  child: ChildProcess,
  type: T,
  message: Record<string, unknown>,
  timeoutMs = 5000,
): Promise<Extract<ChildReport, { type: T }>> {
  return new Promise((resolve, reject) => {
    const id = nextQuery++;
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`child ${child.pid} did not answer ${JSON.stringify(message)}`));
    }, timeoutMs);
    const onMessage = (answer: unknown): void => {
      const m = answer as ChildReport; // our own children send only ChildReport objects
      if (m.type !== type || (m as { id?: number }).id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m as Extract<ChildReport, { type: T }>);
    };
    child.on('message', onMessage);
    child.send({ ...message, id });
  });
}

/**
 * A child's CPU time so far (user + system, microseconds): CPU per request stays meaningful
 * when other work on the machine makes requests per second swing.
 */
export async function askCpuMicros(child: ChildProcess, timeoutMs = 5000): Promise<number> {
  return (await ask(child, 'cpu', { cpu: true }, timeoutMs)).micros;
}
