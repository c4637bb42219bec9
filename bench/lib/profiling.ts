// CPU profiles of a scenario's server over exactly the window the parent chooses (after the
// warm-up, for the measured load only), taken in the child by V8's sampling profiler through
// an in-process inspector session (node:inspector/promises; no debugger is attached).
//
// Parent: `await startProfiling(child)`, load it, `await stopProfiling(child, file)`.
// Child: `answerProfileRequests()` once at start-up.

import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { ask, report } from './children.js';
import type { CpuProfile } from './cpu-profile.js';

/**
 * Sampling interval asked for, µs. The samples come less often than that (every ~180–350 µs on
 * the 2-core machine this was written on): ~3,000–5,000 per busy second, so that a part
 * holding 1 % of the thread is seen ~30–50 times a second, enough for its share to ±0.1 point
 * over 6 s. The profiler's own cost is spread over every function alike, so shares hold.
 */
export const PROFILE_INTERVAL_US = 100;

/** For a child: start and stop profiling when the parent asks. */
export function answerProfileRequests(): void {
  let session: Session | null = null;
  process.on('message', (message: unknown) => {
    const m = message as { profile?: unknown; id?: unknown; file?: unknown } | null;
    if (typeof m?.profile !== 'string' || typeof m.id !== 'number') return;
    const id = m.id;
    const run = async (): Promise<void> => {
      if (m.profile === 'start') {
        if (session !== null) throw new Error('already profiling');
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: PROFILE_INTERVAL_US });
        await session.post('Profiler.start');
      } else if (m.profile === 'stop' && typeof m.file === 'string') {
        if (session === null) throw new Error('not profiling');
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        session = null;
        writeFileSync(m.file, JSON.stringify(profile));
      } else {
        throw new Error(`unknown profiling request ${JSON.stringify(m)}`);
      }
    };
    run().then(
      () => report({ type: 'profile', id }),
      (err: unknown) => report({ type: 'profile', id, error: String(err) }),
    );
  });
}

/** Parent: the child starts sampling now (resolves once it does). */
export async function startProfiling(child: ChildProcess): Promise<void> {
  const answer = await ask(child, 'profile', { profile: 'start' });
  if (answer.error) throw new Error(`profiling did not start: ${answer.error}`);
}

/**
 * Parent: the child stops sampling and writes the profile to `file` (a `.cpuprofile` Chrome
 * DevTools opens); resolves the profile.
 */
export async function stopProfiling(child: ChildProcess, file: string): Promise<CpuProfile> {
  const answer = await ask(child, 'profile', { profile: 'stop', file }, 30_000);
  if (answer.error) throw new Error(`profiling did not stop: ${answer.error}`);
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}
