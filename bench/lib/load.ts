// The load generator: wrk when `which wrk` finds it (the tool the performance targets were first measured with),
// else autocannon's programmatic API in this process. BENCH_LOADGEN=autocannon|wrk overrides.

import { execFile, execFileSync } from 'node:child_process';
import autocannon from 'autocannon';
import { trackProcess } from './children.js';

export interface LoadOptions {
  url: string;
  headers: Record<string, string>;
  connections: number;
  durationSec: number;
}

export interface LoadResult {
  requestsPerSec: number;
  /** Latency percentiles in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  completed: number;
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
}

export type LoadGenerator = 'autocannon' | 'wrk';

export function chooseLoadGenerator(): LoadGenerator {
  const forced = process.env.BENCH_LOADGEN;
  if (forced === 'autocannon' || forced === 'wrk') return forced;
  try {
    execFileSync('which', ['wrk'], { stdio: 'ignore' });
    return 'wrk';
  } catch {
    return 'autocannon';
  }
}

export function loadGeneratorVersion(generator: LoadGenerator): string {
  if (generator === 'autocannon') return 'autocannon 9 (programmatic, in the parent process)';
  try {
    // `wrk -v` prints its version and exits non-zero.
    execFileSync('wrk', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const out = (err as { stdout?: string }).stdout ?? ''; // execFileSync's error carries stdout
    const first = out
      .split('\n')[0]
      ?.replace(/\s*Copyright.*$/, '')
      .trim();
    if (first) return `${first} (-t${WRK_THREADS})`;
  }
  return 'wrk';
}

export function runLoad(generator: LoadGenerator, options: LoadOptions): Promise<LoadResult> {
  return generator === 'wrk' ? runWrk(options) : runAutocannon(options);
}

function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: options.url,
        headers: options.headers,
        connections: options.connections,
        pipelining: 1,
        duration: options.durationSec,
        timeout: 10,
      },
      (err, result) => {
        if (err) {
          reject(err);
          return;
        }
        const completed = result.requests.total;
        resolve({
          requestsPerSec: completed / result.duration,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          completed,
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
        });
      },
    );
  });
}

const WRK_THREADS = Number(process.env.BENCH_WRK_THREADS ?? 1);

function runWrk(options: LoadOptions): Promise<LoadResult> {
  const args = [
    `-t${WRK_THREADS}`,
    `-c${options.connections}`,
    `-d${options.durationSec}s`,
    '--latency',
    '--timeout',
    '10s',
  ];
  for (const [name, value] of Object.entries(options.headers)) args.push('-H', `${name}: ${value}`);
  args.push(options.url);
  return new Promise((resolve, reject) => {
    const child = execFile('wrk', args, { encoding: 'utf8' }, (err, stdout) => {
      if (err) {
        reject(new Error(`wrk failed: ${err.message}`));
        return;
      }
      try {
        resolve(parseWrk(stdout));
      } catch (parseError) {
        reject(parseError);
      }
    });
    trackProcess(child);
  });
}

/** Parses wrk's `--latency` report. Exported for the self-check in run.ts. */
export function parseWrk(out: string): LoadResult {
  const latency = (pct: string): number => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`wrk output has no ${pct}% latency:\n${out}`);
    const value = Number(m[1]);
    return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value;
  };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s*(\d+) requests in/m.exec(out);
  if (!rps || !total) throw new Error(`wrk output not understood:\n${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    completed: Number(total[1]),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    errors,
  };
}
