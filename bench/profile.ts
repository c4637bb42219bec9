// CPU profile of one scenario under load (default: portcullis), to find per-request work that
// could move to startup:
//   npx tsx bench/profile.ts [scenario] [seconds] [--no-inlining]
// Starts the upstream and the scenario's server, checks it answers 200, warms it up, then
// profiles it (V8's sampler, every 100 µs, over the measured load only: same load generator and
// connections as run.ts) and prints the top self-time functions overall, by package, and those
// in src/ (with the TS line where the function is defined), and what the observability hooks
// cost (bench/lib/hooks.ts; meaningful for `portcullis`, where nobody listens, and with
// --no-inlining, as run.ts measures it: V8 counts an inlined function as its caller). The
// .cpuprofile stays in the printed directory (open it in Chrome DevTools for the flame chart).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  askCpuMicros,
  firstReport,
  forkTs,
  installCleanupHandlers,
  stopAllChildren,
  stopChild,
} from './lib/children.js';
import { BENCH_KEY, REQUEST_PATH, UPSTREAM_BODY } from './lib/constants.js';
import { analyseProfile } from './lib/cpu-profile.js';
import { hookCost, NO_INLINING } from './lib/hooks.js';
import { get } from './lib/http-check.js';
import { chooseLoadGenerator, runLoad } from './lib/load.js';
import { startProfiling, stopProfiling } from './lib/profiling.js';
import { isScenarioName, type ScenarioName } from './lib/scenarios.js';
import { markdownTable } from './lib/stats.js';

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

function pct(part: number, whole: number): string {
  return `${((part / whole) * 100).toFixed(1)}%`;
}

async function main(): Promise<void> {
  installCleanupHandlers();
  const noInlining = process.argv.includes('--no-inlining');
  const [scenarioArg = 'portcullis', secondsArg = '10'] = process.argv
    .slice(2)
    .filter((a) => a !== '--no-inlining');
  const seconds = Number(secondsArg);
  if (!isScenarioName(scenarioArg) || scenarioArg === 'direct' || !(seconds > 0)) {
    throw new Error(`usage: profile.ts [scenario other than direct] [seconds] [--no-inlining]`);
  }
  const scenario: ScenarioName = scenarioArg;
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-prof-'));

  const upstream = forkTs(here('./upstream.ts'), []);
  const up = await firstReport(upstream, 20_000);
  if (up.type !== 'ready') throw new Error('upstream did not start');
  const server = forkTs(
    here('./server.ts'),
    [scenario, String(up.port), `bench:prof:${Date.now()}:`],
    { execArgv: noInlining ? [...NO_INLINING] : [] },
  );
  const ready = await firstReport(server, 30_000);
  if (ready.type !== 'ready') throw new Error(`${scenario}: ${JSON.stringify(ready)}`);
  const check = await get(ready.port, REQUEST_PATH, { 'x-api-key': BENCH_KEY });
  if (check.status !== 200 || check.body !== UPSTREAM_BODY) {
    throw new Error(`${scenario} answers ${check.status} ${check.body.slice(0, 200)}`);
  }
  const load = {
    url: `http://127.0.0.1:${ready.port}${REQUEST_PATH}`,
    headers: { 'x-api-key': BENCH_KEY },
    connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
  };
  const generator = chooseLoadGenerator();
  // Start-up (tsx compiling the sources) and a warm-up run before the profiler starts.
  await runLoad(generator, { ...load, durationSec: 2 });
  const file = join(dir, `${scenario}.cpuprofile`);
  await startProfiling(server);
  const cpuBefore = await askCpuMicros(server);
  const result = await runLoad(generator, { ...load, durationSec: seconds });
  const cpuUs = (await askCpuMicros(server)) - cpuBefore;
  const profile = await stopProfiling(server, file);
  await stopChild(server);
  await stopChild(upstream);
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors under load`);
  }
  const { totalMs, functions, byOrigin } = analyseProfile(profile);
  const idle = functions.find((f) => f.name === '(idle)')?.selfMs ?? 0;
  const busy = totalMs - idle;

  console.log(
    `${scenario}: ${Math.round(result.requestsPerSec)} req/s, p99 ${result.p99Ms} ms over ${seconds} s (profiled); ` +
      `profile ${file}; ${Math.round(totalMs)} ms sampled, ${Math.round(busy)} ms busy (${pct(busy, totalMs)}); ` +
      `main thread ≈ ${((busy * 1000) / result.completed).toFixed(0)} µs per request, ` +
      `process (all threads) ${(cpuUs / result.completed).toFixed(0)} µs of CPU per request`,
  );
  console.log('\n## Self time by origin (share of busy time)\n');
  console.log(
    markdownTable(
      ['origin', 'self ms', 'share'],
      byOrigin
        .filter((o) => o.origin !== '(idle)')
        .slice(0, 15)
        .map((o) => [o.origin, o.selfMs.toFixed(0), pct(o.selfMs, busy)]),
    ),
  );
  const top = functions
    .filter((f) => f.name !== '(idle)' && f.name !== '(program)')
    .sort((a, b) => b.selfMs - a.selfMs);
  console.log('\n## Top self-time functions\n');
  console.log(
    markdownTable(
      ['function', 'where', 'self ms', 'self share'],
      top.slice(0, 25).map((f) => [f.name, f.where, f.selfMs.toFixed(1), pct(f.selfMs, busy)]),
    ),
  );
  const ours = functions.filter((f) => f.where.startsWith('src/'));
  console.log('\n## Our code (src/): self and total (inclusive) time\n');
  console.log(
    markdownTable(
      ['function', 'where', 'self ms', 'self share', 'total ms', 'total share'],
      ours
        .sort((a, b) => b.selfMs - a.selfMs)
        .slice(0, 30)
        .map((f) => [
          f.name,
          f.where,
          f.selfMs.toFixed(1),
          pct(f.selfMs, busy),
          f.totalMs.toFixed(1),
          pct(f.totalMs, busy),
        ]),
    ),
  );
  const hooks = hookCost(profile);
  console.log(
    `\n## Observability hooks (bench/lib/hooks.ts): ${hooks.hookSamples} of ${hooks.busySamples} busy samples, ` +
      `${(hooks.share * 100).toFixed(2)}%, ≈ ${((hooks.hooksMs * 1000) / result.completed).toFixed(2)} µs per request` +
      `${noInlining ? '' : ' (inlining on: hooks inlined into their callers are not seen)'}\n`,
  );
  console.log(
    markdownTable(
      ['outermost hook on the stack', 'share of busy samples'],
      hooks.parts.map((p) => [p.name, `${(p.share * 100).toFixed(2)}%`]),
    ),
  );
}

main()
  .then(async () => {
    await stopAllChildren();
    process.exit(0);
  })
  .catch(async (err: unknown) => {
    console.error(err);
    await stopAllChildren();
    process.exit(1);
  });
