// `npm run bench`: portcullis against the stacks users would build instead.
//
// 1. End to end (e2e): a keep-alive node:http upstream on 127.0.0.1 and, one at a time, each
//    scenario in its own process in front of it; load from wrk (if installed) or autocannon at
//    fixed connections; warm-up discarded; scenarios interleaved (the order rotates every round)
//    and repeated; medians reported with ratios to direct, hpm-bare, hand-composed and portcullis.
// 2. What the observability hooks cost when nobody listens (hooks): the `portcullis` scenario
//    under the same load, CPU-profiled over the measured seconds, once per round, and the share
//    of its main thread's busy time spent in the hooks (bench/lib/hooks.ts says what counts).
// 3. Rate-limit decisions per second (bench/decisions.ts), in its own process: every store with
//    64 Redis decisions in flight, then again the Redis stores alone with 1 in flight.
// 4. Memory per tracked key (bench/memory.ts), in its own process with --expose-gc.
// Results go to the terminal and to bench/RESULTS.md. Every process started here is stopped at
// the end, on failure and on Ctrl-C.
//
// Knobs (environment): BENCH_DURATION (s per measurement, default 6), BENCH_WARMUP (s, 2),
// BENCH_ROUNDS (3), BENCH_CONNECTIONS (50), BENCH_SCENARIOS (comma list), BENCH_SECTIONS
// (e2e,hooks,decisions,memory), BENCH_LOADGEN (wrk|autocannon), BENCH_OUT (results file).

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_IN_FLIGHT, type DecisionsResult } from './decisions.js';
import {
  askCpuMicros,
  firstReport,
  forkTs,
  installCleanupHandlers,
  stopAllChildren,
  stopChild,
} from './lib/children.js';
import { BENCH_KEY, REQUEST_PATH, UPSTREAM_BODY } from './lib/constants.js';
import type { CpuProfile } from './lib/cpu-profile.js';
import { type HooksResult, hooksRound, NO_INLINING } from './lib/hooks.js';
import { get } from './lib/http-check.js';
import {
  chooseLoadGenerator,
  type LoadGenerator,
  type LoadResult,
  loadGeneratorVersion,
  runLoad,
} from './lib/load.js';
import { machineInfo } from './lib/machine.js';
import { accountOtherWork } from './lib/other-work.js';
import { Unavailable } from './lib/portcullis.js';
import { PROFILE_INTERVAL_US, startProfiling, stopProfiling } from './lib/profiling.js';
import { connectRedis } from './lib/redis.js';
import {
  type MeasuredRun,
  type RunSettings,
  renderReport,
  type ScenarioOutcome,
} from './lib/report.js';
import { SCENARIO_INFO, SCENARIOS, type ScenarioName } from './lib/scenarios.js';
import type { MemoryResult } from './memory.js';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

function envList(name: string, all: readonly string[]): string[] {
  const raw = process.env[name];
  if (!raw) return [...all];
  const picked = raw.split(',').map((s) => s.trim());
  for (const p of picked) if (!all.includes(p)) throw new Error(`${name}: unknown '${p}'`);
  return picked;
}

const settings: RunSettings = {
  durationSec: envNumber('BENCH_DURATION', 6),
  warmupSec: envNumber('BENCH_WARMUP', 2),
  rounds: Math.round(envNumber('BENCH_ROUNDS', 3)),
  connections: Math.round(envNumber('BENCH_CONNECTIONS', 50)),
  loadGenerator: chooseLoadGenerator(),
  loadGeneratorVersion: '',
};
settings.loadGeneratorVersion = loadGeneratorVersion(settings.loadGenerator);
const scenarios = envList('BENCH_SCENARIOS', SCENARIOS) as ScenarioName[];
const sections = envList('BENCH_SECTIONS', ['e2e', 'hooks', 'decisions', 'memory']);
const outFile = process.env.BENCH_OUT ?? here('./RESULTS.md');
/** Unique per run: Redis keys of one run never meet another's (they also expire: 1 min windows). */
const runId = `bench:${Date.now().toString(36)}${randomBytes(3).toString('hex')}:`;

/** null when Redis answers, else why not (the Redis rows are then reported as skipped). */
async function redisStatus(): Promise<string | null> {
  try {
    const client = await connectRedis();
    await client.quit();
    return null;
  } catch (err) {
    if (err instanceof Unavailable) return err.message;
    throw err;
  }
}

interface Upstream {
  port: number;
  child: ChildProcess;
  stop: () => Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const child = forkTs(here('./upstream.ts'), []);
  const first = await firstReport(child, 20_000);
  if (first.type !== 'ready') throw new Error(`upstream did not start: ${JSON.stringify(first)}`);
  return { port: first.port, child, stop: () => stopChild(child) };
}

/** Checks the scenario answers what it should, so no error path is ever timed. */
async function checkScenario(name: ScenarioName, port: number): Promise<void> {
  const info = SCENARIO_INFO[name];
  const ok = await get(port, REQUEST_PATH, { 'x-api-key': BENCH_KEY });
  if (ok.status !== 200)
    throw new Error(`with the key: status ${ok.status}, body ${ok.body.slice(0, 300)}`);
  if (ok.body !== UPSTREAM_BODY)
    throw new Error(`with the key: wrong body ${ok.body.slice(0, 300)}`);
  const upstreamPath = ok.headers['x-upstream-path'];
  if (upstreamPath !== info.upstreamPath) {
    throw new Error(
      `upstream received path ${String(upstreamPath)}, expected ${info.upstreamPath}`,
    );
  }
  if (info.checksKey) {
    const missing = await get(port, REQUEST_PATH, {});
    if (missing.status !== 401)
      throw new Error(`without a key: status ${missing.status}, expected 401`);
    const wrong = await get(port, REQUEST_PATH, { 'x-api-key': 'not-a-key' });
    if (wrong.status !== 401)
      throw new Error(`with a wrong key: status ${wrong.status}, expected 401`);
  }
}

function describeBadLoad(result: LoadResult): string | null {
  if (result.non2xx === 0 && result.errors === 0 && result.completed > 0) return null;
  return `${result.non2xx} non-2xx responses, ${result.errors} errors/timeouts, ${result.completed} completed`;
}

interface MeasureOptions {
  /** Node/V8 flags of the scenario's server. */
  execArgv?: string[];
  /** CPU-profile the server over the measured seconds and write the profile here. */
  profileTo?: string;
}

async function measureScenario(
  name: ScenarioName,
  upstream: Upstream,
  generator: LoadGenerator,
  options: MeasureOptions = {},
): Promise<
  | { kind: 'ok'; result: MeasuredRun; profile: CpuProfile | null }
  | { kind: 'unavailable' | 'failed'; reason: string }
> {
  let port = upstream.port;
  let stop = async (): Promise<void> => {};
  // For `direct` the upstream is the server under load.
  let server = upstream.child;
  if (name !== 'direct') {
    const child = forkTs(here('./server.ts'), [name, String(upstream.port), `${runId}${name}:`], {
      execArgv: options.execArgv ?? [],
    });
    server = child;
    stop = () => stopChild(child);
    try {
      const first = await firstReport(child, 30_000);
      if (first.type === 'unavailable') {
        await stop();
        return { kind: 'unavailable', reason: first.reason };
      }
      if (first.type === 'failed') {
        await stop();
        return { kind: 'failed', reason: first.reason };
      }
      if (first.type !== 'ready') throw new Error(`unexpected report ${JSON.stringify(first)}`);
      port = first.port;
    } catch (err) {
      await stop();
      return { kind: 'failed', reason: `did not start: ${(err as Error).message}` };
    }
  }
  try {
    try {
      await checkScenario(name, port);
    } catch (err) {
      return { kind: 'failed', reason: `answers wrongly before timing: ${(err as Error).message}` };
    }
    const load = {
      url: `http://127.0.0.1:${port}${REQUEST_PATH}`,
      headers: { 'x-api-key': BENCH_KEY },
      connections: settings.connections,
    };
    const warm = await runLoad(generator, { ...load, durationSec: settings.warmupSec });
    const warmProblem = describeBadLoad(warm);
    if (warmProblem) return { kind: 'failed', reason: `during warm-up: ${warmProblem}` };
    if (options.profileTo) await startProfiling(server);
    const cpuBefore = await Promise.all([askCpuMicros(server), askCpuMicros(upstream.child)]);
    const result = await runLoad(generator, { ...load, durationSec: settings.durationSec });
    const cpuAfter = await Promise.all([askCpuMicros(server), askCpuMicros(upstream.child)]);
    const profile = options.profileTo ? await stopProfiling(server, options.profileTo) : null;
    const problem = describeBadLoad(result);
    if (problem) return { kind: 'failed', reason: `during measurement: ${problem}` };
    return {
      kind: 'ok',
      result: {
        ...result,
        serverCpuUsPerRequest: (cpuAfter[0] - cpuBefore[0]) / result.completed,
        upstreamCpuUsPerRequest: (cpuAfter[1] - cpuBefore[1]) / result.completed,
      },
      profile,
    };
  } finally {
    await stop();
  }
}

async function runEndToEnd(): Promise<Record<ScenarioName, ScenarioOutcome>> {
  const outcomes = Object.fromEntries(
    scenarios.map((s) => [s, { runs: [], unavailable: null, failed: null } as ScenarioOutcome]),
  ) as Record<ScenarioName, ScenarioOutcome>;
  const redisProblem = scenarios.some((s) => SCENARIO_INFO[s].usesRedis)
    ? await redisStatus()
    : null;
  if (redisProblem) {
    for (const s of scenarios)
      if (SCENARIO_INFO[s].usesRedis) outcomes[s].unavailable = redisProblem;
  }
  const upstream = await startUpstream();
  try {
    for (let round = 0; round < settings.rounds; round++) {
      // Rotate the order every round so no scenario always runs first or last.
      const order = scenarios.map(
        (_, i) => scenarios[(i + round) % scenarios.length] as ScenarioName,
      );
      for (const name of order) {
        const outcome = outcomes[name];
        if (outcome.unavailable || outcome.failed) continue;
        process.stdout.write(`  round ${round + 1}/${settings.rounds}  ${name.padEnd(20)} `);
        const measured = await measureScenario(name, upstream, settings.loadGenerator);
        if (measured.kind === 'ok') {
          outcome.runs.push(measured.result);
          const r = measured.result;
          process.stdout.write(
            `${Math.round(r.requestsPerSec)} req/s  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  ` +
              `server CPU ${Math.round(r.serverCpuUsPerRequest)} µs/req\n`,
          );
        } else if (measured.kind === 'unavailable') {
          outcome.unavailable = measured.reason;
          process.stdout.write(`unavailable: ${measured.reason}\n`);
        } else {
          outcome.failed = measured.reason;
          process.stdout.write(`\n\n  !!! ${name} FAILED: ${measured.reason}\n\n`);
        }
      }
    }
  } finally {
    await upstream.stop();
  }
  return outcomes;
}

/**
 * The observability hooks with nobody listening: the `portcullis` scenario, profiled without
 * inlining (see bench/lib/hooks.ts), once per round, each in a fresh process.
 */
async function runHooks(): Promise<HooksResult> {
  const result: HooksResult = { intervalUs: PROFILE_INTERVAL_US, rounds: [], failed: null };
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-hooks-'));
  const upstream = await startUpstream();
  try {
    for (let round = 0; round < settings.rounds; round++) {
      process.stdout.write(`  round ${round + 1}/${settings.rounds}  portcullis, profiled    `);
      const measured = await measureScenario('portcullis', upstream, settings.loadGenerator, {
        execArgv: [...NO_INLINING],
        profileTo: join(dir, `portcullis-${round + 1}.cpuprofile`),
      });
      if (measured.kind !== 'ok') {
        result.failed = measured.reason;
        process.stdout.write(`\n\n  !!! hooks FAILED: ${measured.reason}\n\n`);
        break;
      }
      const r = hooksRound(
        measured.profile as CpuProfile, // profileTo was given
        measured.result.completed,
        settings.durationSec,
      );
      result.rounds.push(r);
      process.stdout.write(
        `${Math.round(r.requestsPerSec)} req/s  hooks ${(r.share * 100).toFixed(2)} % of the main thread's busy samples ` +
          `(${r.hooksUsPerRequest.toFixed(2)} of ${Math.round(r.busyUsPerRequest)} µs/req)\n`,
      );
    }
  } finally {
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

async function runSection<T>(
  file: string,
  execArgv: string[],
  env: Record<string, string> = {},
): Promise<T> {
  const child = forkTs(here(file), ['--child'], { execArgv, env });
  try {
    const first = await firstReport(child, 240_000);
    if (first.type !== 'result')
      throw new Error(`${file}: unexpected report ${JSON.stringify(first)}`);
    return first.data as T; // our own section scripts send their result type
  } finally {
    await stopChild(child);
  }
}

/**
 * What the run should take, from the settings: each measurement is a warm-up, the measured
 * seconds and ~1.5 s to start and stop a process (3 s for a profiled one, which also writes its
 * profile); decisions (64 and then 1 in flight) ~55 s and memory ~10 s with their own defaults.
 */
function expectedSeconds(): number {
  const measurement = settings.warmupSec + settings.durationSec;
  let seconds = 0;
  if (sections.includes('e2e')) seconds += scenarios.length * settings.rounds * (measurement + 1.5);
  if (sections.includes('hooks')) seconds += settings.rounds * (measurement + 3);
  if (sections.includes('decisions')) seconds += 55;
  if (sections.includes('memory')) seconds += 10;
  return seconds;
}

async function main(): Promise<number> {
  installCleanupHandlers();
  const machine = machineInfo();
  const otherWorkSoFar = await accountOtherWork(machine.cores);
  const started = Date.now();
  const expected = expectedSeconds();
  console.log(
    `portcullis bench: ${machine.cpuModel} × ${machine.cores}, Node ${machine.node}, load ${machine.loadStart.toFixed(2)}; ` +
      `${settings.loadGeneratorVersion}, ${settings.connections} connections, ` +
      `${settings.warmupSec}s warm-up + ${settings.durationSec}s × ${settings.rounds} rounds; ` +
      `expected to take ≈ ${expected < 120 ? `${Math.round(expected)} s` : `${Math.round(expected / 60)} min`}`,
  );

  const sectionErrors: string[] = [];
  const sectionSeconds: Record<string, number> = {};
  /** Runs one section if it was asked for: timed, and an error is reported, not fatal. */
  const section = async <T>(
    name: string,
    run: () => Promise<T>,
    label = name,
  ): Promise<T | null> => {
    if (!sections.includes(name)) return null;
    const at = Date.now();
    try {
      return await run();
    } catch (err) {
      sectionErrors.push(`${label}: ${(err as Error).message}`);
      return null;
    } finally {
      sectionSeconds[name] = (sectionSeconds[name] ?? 0) + (Date.now() - at) / 1000;
    }
  };

  const e2e = await section('e2e', () => {
    console.log('\nEnd to end (req/s, latency):');
    return runEndToEnd();
  });
  const hooks = await section('hooks', () => {
    console.log('\nObservability hooks with nobody listening (CPU profile, inlining off):');
    return runHooks();
  });
  const decisions = await section(
    'decisions',
    () => {
      console.log(`\nRate-limit decisions per second, Redis with ${DEFAULT_IN_FLIGHT} in flight…`);
      return runSection<DecisionsResult>('./decisions.ts', [], {
        BENCH_DECISION_IN_FLIGHT: String(DEFAULT_IN_FLIGHT),
      });
    },
    `decisions (${DEFAULT_IN_FLIGHT} in flight)`,
  );
  const decisionsAlone = await section(
    'decisions',
    () => {
      console.log('\nRate-limit decisions per second, Redis with 1 in flight…');
      return runSection<DecisionsResult>('./decisions.ts', [], {
        BENCH_DECISION_IN_FLIGHT: '1',
        BENCH_DECISION_STORES: 'redis',
      });
    },
    'decisions (1 in flight)',
  );
  const memory = await section('memory', () => {
    console.log('\nMemory per tracked key…');
    return runSection<MemoryResult>('./memory.ts', ['--expose-gc']);
  });
  machine.otherWork = await otherWorkSoFar(); // every child has exited by now

  const report = renderReport({
    machine,
    settings,
    scenarios,
    e2e,
    hooks,
    decisions,
    decisionsAlone,
    memory,
    sectionErrors,
    elapsedSec: (Date.now() - started) / 1000,
    sectionSeconds,
  });
  console.log(`\n${report.text}`);
  writeFileSync(outFile, report.markdown);
  console.log(`\nWritten to ${outFile}`);

  const failed = [
    ...(e2e
      ? Object.entries(e2e)
          .filter(([, o]) => o.failed)
          .map(([n, o]) => `${n}: ${o.failed}`)
      : []),
    ...(hooks?.failed ? [`hooks: ${hooks.failed}`] : []),
    ...sectionErrors,
  ];
  if (failed.length > 0) {
    console.error(
      `\n!!! BENCHMARK FAILURES (results above exclude them):\n  ${failed.join('\n  ')}`,
    );
    return 1;
  }
  return 0;
}

main()
  .then(async (code) => {
    await stopAllChildren();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    console.error(err);
    await stopAllChildren();
    process.exit(1);
  });
