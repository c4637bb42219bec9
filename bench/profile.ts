// CPU profile of one scenario under load (default: portcullis), to find per-request work that
// could move to startup:
//   npx tsx bench/profile.ts [scenario] [seconds]
// Starts the upstream and the scenario's server with `node --cpu-prof`, checks it answers 200,
// loads it (same load generator and connections as run.ts), stops it so V8 writes the profile,
// then prints the top self-time functions overall, by package, and those in src/ (with the TS
// line where the function is defined). The .cpuprofile stays in the printed directory (open it
// in Chrome DevTools for the flame chart).

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  firstReport,
  forkTs,
  installCleanupHandlers,
  stopAllChildren,
  stopChild,
} from './lib/children.js';
import { BENCH_KEY, REQUEST_PATH, UPSTREAM_BODY } from './lib/constants.js';
import { get } from './lib/http-check.js';
import { chooseLoadGenerator, runLoad } from './lib/load.js';
import { isScenarioName, type ScenarioName } from './lib/scenarios.js';
import { markdownTable } from './lib/stats.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionCost {
  name: string;
  /** src file, package or Node internals. */
  origin: string;
  where: string;
  selfMs: number;
  totalMs: number;
}

/** Where a frame lives: src file, package name, or Node internals. */
function origin(url: string): string {
  if (url === '') return '(native/V8)';
  if (url.startsWith('node:')) return 'node (core)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  if (path.startsWith(repoRoot)) return relative(repoRoot, path);
  return path;
}

const sourceCache = new Map<string, string[]>();

/**
 * The TS line where `name` is defined in `file` (the profile's line numbers are those of the
 * code tsx generated, which drift from the source); falls back to the generated line.
 */
function definitionLine(file: string, name: string, generatedLine: number): string {
  let lines = sourceCache.get(file);
  if (!lines) {
    try {
      lines = readFileSync(file, 'utf8').split('\n');
    } catch {
      lines = [];
    }
    sourceCache.set(file, lines);
  }
  const bare =
    name
      .replace(/^(get |set )/, '')
      .split('.')
      .pop() ?? name;
  if (bare && bare !== '(anonymous)') {
    const escaped = bare.replace(/[$]/g, '\\$');
    const patterns = [
      new RegExp(`function\\*?\\s+${escaped}\\s*[(<]`),
      new RegExp(
        `^\\s*(?:(?:private|public|protected|static|readonly|async|get|set|override)\\s+)*${escaped}\\s*[(<]`,
      ),
      new RegExp(`(?:const|let|var)\\s+${escaped}\\s*[=:]`),
      new RegExp(`\\b${escaped}\\s*[:=]\\s*(?:async\\s*)?(?:function|\\()`),
      new RegExp(`class\\s+${escaped}\\b`),
    ];
    for (const pattern of patterns) {
      const index = lines.findIndex((line) => pattern.test(line));
      if (index >= 0) return String(index + 1);
    }
  }
  return `~${generatedLine + 1} (generated)`;
}

/** `skipMs`: samples in the first milliseconds of the profile (start-up, warm-up) are left out. */
export function analyseProfile(
  profile: CpuProfile,
  skipMs = 0,
): {
  totalMs: number;
  functions: FunctionCost[];
  byOrigin: Array<{ origin: string; selfMs: number }>;
} {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = (frame: CallFrame): string =>
    `${frame.functionName || '(anonymous)'}|${frame.url}|${frame.lineNumber}|${frame.columnNumber}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  let totalUs = 0;
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    at += profile.timeDeltas[i] ?? 0;
    if (at < skipMs * 1000) continue;
    // timeDeltas[i] is the time before sample i; attribute the next gap to this sample.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    totalUs += dt;
    const node = byId.get(id);
    if (!node) continue;
    const key = keyOf(node.callFrame);
    frames.set(key, node.callFrame);
    self.set(key, (self.get(key) ?? 0) + dt);
    const seen = new Set<string>();
    for (let up: number | undefined = id; up !== undefined; up = parent.get(up)) {
      const n = byId.get(up);
      if (!n) break;
      const k = keyOf(n.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      frames.set(k, n.callFrame);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  }
  const functions: FunctionCost[] = [...frames.entries()].map(([key, frame]) => {
    const from = origin(frame.url);
    const file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : '';
    const name = frame.functionName || '(anonymous)';
    const where = from.startsWith('src/')
      ? `${from}:${definitionLine(file, name, frame.lineNumber)}`
      : from === '(native/V8)' || from === 'node (core)'
        ? from
        : `${from} ${frame.url.split('/').slice(-1)[0]}:${frame.lineNumber + 1}`;
    return {
      name,
      origin: from.startsWith('src/') ? 'portcullis src/' : from,
      where,
      selfMs: (self.get(key) ?? 0) / 1000,
      totalMs: (total.get(key) ?? 0) / 1000,
    };
  });
  const originSelf = new Map<string, number>();
  for (const f of functions) {
    originSelf.set(f.origin, (originSelf.get(f.origin) ?? 0) + f.selfMs);
  }
  return {
    totalMs: totalUs / 1000,
    functions,
    byOrigin: [...originSelf.entries()]
      .map(([o, selfMs]) => ({ origin: o, selfMs }))
      .sort((a, b) => b.selfMs - a.selfMs),
  };
}

function pct(part: number, whole: number): string {
  return `${((part / whole) * 100).toFixed(1)}%`;
}

async function main(): Promise<void> {
  installCleanupHandlers();
  const scenarioArg = process.argv[2] ?? 'portcullis';
  if (!isScenarioName(scenarioArg) || scenarioArg === 'direct') {
    throw new Error(`usage: profile.ts [scenario other than direct] [seconds]`);
  }
  const scenario: ScenarioName = scenarioArg;
  const seconds = Number(process.argv[3] ?? 10);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-prof-'));

  const upstream = forkTs(here('./upstream.ts'), []);
  const up = await firstReport(upstream, 20_000);
  if (up.type !== 'ready') throw new Error('upstream did not start');
  const forkedAt = performance.now();
  const server = forkTs(
    here('./server.ts'),
    [scenario, String(up.port), `bench:prof:${Date.now()}:`],
    {
      execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=250'],
    },
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
  // Start-up (tsx compiling the sources) and a warm-up are profiled but left out of the figures.
  await runLoad(generator, { ...load, durationSec: 2 });
  const skipMs = performance.now() - forkedAt;
  const result = await runLoad(generator, { ...load, durationSec: seconds });
  await stopChild(server, 20_000);
  await stopChild(upstream);
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors under load`);
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const { totalMs, functions, byOrigin } = analyseProfile(profile, skipMs);
  const idle = functions.find((f) => f.name === '(idle)')?.selfMs ?? 0;
  const busy = totalMs - idle;

  console.log(
    `${scenario}: ${Math.round(result.requestsPerSec)} req/s, p99 ${result.p99Ms} ms over ${seconds} s; ` +
      `profile ${join(dir, file)} (first ${Math.round(skipMs)} ms, start-up and warm-up, left out); ${Math.round(totalMs)} ms sampled, ${Math.round(busy)} ms busy (${pct(busy, totalMs)}); ` +
      `≈ ${((busy * 1000) / (result.requestsPerSec * seconds)).toFixed(0)} µs of CPU per request`,
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
