// Turns one run's measurements into the tables printed on the terminal and written to
// bench/RESULTS.md, including the performance targets with pass/fail.

import { type DecisionRow, type DecisionsResult, decisionsTable } from '../decisions.js';
import { type MemoryResult, memoryTables } from '../memory.js';
import type { HooksResult } from './hooks.js';
import type { LoadGenerator, LoadResult } from './load.js';
import type { MachineInfo } from './machine.js';
import { SCENARIO_INFO, type ScenarioName } from './scenarios.js';
import { formatInt, formatMs, formatRatio, markdownTable, median } from './stats.js';

export interface RunSettings {
  durationSec: number;
  warmupSec: number;
  rounds: number;
  connections: number;
  loadGenerator: LoadGenerator;
  loadGeneratorVersion: string;
}

/** One measurement: the load generator's figures plus the CPU the processes spent on it. */
export interface MeasuredRun extends LoadResult {
  /** CPU (user + system) of the scenario's server process per request; for `direct`, the upstream's. */
  serverCpuUsPerRequest: number;
  upstreamCpuUsPerRequest: number;
}

export interface ScenarioOutcome {
  runs: MeasuredRun[];
  unavailable: string | null;
  failed: string | null;
}

export interface ReportInput {
  machine: MachineInfo;
  settings: RunSettings;
  scenarios: ScenarioName[];
  e2e: Record<ScenarioName, ScenarioOutcome> | null;
  /** The observability hooks' share of the gateway's CPU with nobody listening. */
  hooks: HooksResult | null;
  /** Every store; Redis with 64 decisions in flight. */
  decisions: DecisionsResult | null;
  /** The Redis stores again, with 1 decision in flight. */
  decisionsAlone: DecisionsResult | null;
  memory: MemoryResult | null;
  sectionErrors: string[];
  elapsedSec: number;
  /** Seconds each section took, by name (e2e, hooks, decisions, memory). */
  sectionSeconds: Record<string, number>;
}

const E2E_HEADER = [
  'scenario',
  'req/s',
  'p50 ms',
  'p99 ms',
  'server CPU µs/req',
  'upstream CPU µs/req',
  'rounds',
  'status',
];

/** A figure measured once per round; the same index is the same round in every figure. */
interface Series {
  median: number;
  rounds: readonly number[];
}

function series(values: readonly number[]): Series {
  return { median: median(values), rounds: values };
}

/** What a throughput target compares: an end-to-end scenario or a rate-limit store. */
interface Rated {
  /** req/s, or decisions/s. */
  rate: Series;
  /** The same per CPU-second of the process under test. */
  perCpuSec: Series;
  /** Median CPU µs per request (end to end only), shown beside the CPU view. */
  cpuUs?: number;
  /** p99 latency, ms (end to end only). */
  p99?: Series;
}

interface Summary extends Rated {
  p50: Series;
  p99: Series;
  /** Server CPU µs per request. */
  cpu: Series;
  upstreamCpu: Series;
}

function summarise(outcome: ScenarioOutcome | undefined): Summary | null {
  if (!outcome || outcome.runs.length === 0 || outcome.failed) return null;
  const runs = outcome.runs;
  const cpu = series(runs.map((r) => r.serverCpuUsPerRequest));
  return {
    rate: series(runs.map((r) => r.requestsPerSec)),
    perCpuSec: series(runs.map((r) => 1e6 / r.serverCpuUsPerRequest)),
    cpuUs: cpu.median,
    p50: series(runs.map((r) => r.p50Ms)),
    p99: series(runs.map((r) => r.p99Ms)),
    cpu,
    upstreamCpu: series(runs.map((r) => r.upstreamCpuUsPerRequest)),
  };
}

function rated(row: DecisionRow | undefined): Rated | undefined {
  return row && { rate: series(row.perSec), perCpuSec: series(row.perCpuSec) };
}

type Verdict = 'PASS' | 'FAIL' | 'n/a';
type Unit = '×' | '%' | 'B';

/** A goal on a figure's median; `null` where a figure is reported without one. */
interface Goal {
  op: '≥' | '≤';
  value: number;
}

const atLeast = (value: number): Goal => ({ op: '≥', value });
const atMost = (value: number): Goal => ({ op: '≤', value });

interface Judged {
  measured: string;
  verdict: Verdict;
}

interface Target extends Judged {
  what: string;
  goal: string;
  /** The same comparison per CPU-second (throughput targets only). */
  cpu: Judged | null;
}

function formatIn(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return '–';
  if (unit === '×') return formatRatio(value);
  if (unit === '%') return `${(value * 100).toFixed(2)} %`;
  return `${Math.round(value)} B`;
}

function goalText(goal: Goal | null, unit: Unit): string {
  if (goal === null) return 'reported';
  return `${goal.op} ${unit === '%' ? `${goal.value * 100} %` : `${goal.value}${unit === '×' ? '×' : ' B'}`}`;
}

/**
 * A figure measured once per round (a ratio, a share, a size), judged on its median: the
 * measured text is the median, the lowest and highest round, and `detail`.
 */
function judge(perRound: readonly number[], goal: Goal | null, unit: Unit, detail = ''): Judged {
  const values = perRound.filter(Number.isFinite);
  if (values.length === 0) return { measured: '–', verdict: 'n/a' };
  const mid = median(values);
  const spread =
    values.length > 1
      ? ` (rounds ${formatIn(Math.min(...values), unit)}–${formatIn(Math.max(...values), unit)})`
      : '';
  const ok = goal === null ? null : goal.op === '≥' ? mid >= goal.value : mid <= goal.value;
  return {
    measured: `${formatIn(mid, unit)}${spread}${detail}`,
    verdict: ok === null ? 'n/a' : ok ? 'PASS' : 'FAIL',
  };
}

/**
 * a ÷ b per round, the rounds paired by index (each pair measured minutes apart at most, so a
 * slow moment of the machine moves both); the ratio of the medians when they do not pair.
 */
function pairedRatios(a: Series, b: Series): number[] {
  if (a.rounds.length !== b.rounds.length) return [a.median / b.median];
  return a.rounds.map((value, i) => value / (b.rounds[i] as number));
}

/**
 * The one way a comparison becomes a target row: `ours` ÷ `base` on throughput (and the same per
 * CPU-second beside it), or on p99 latency, against `goal`.
 */
function ratioTarget(
  what: string,
  ours: Rated | undefined,
  base: Rated | undefined,
  goal: Goal | null,
  metric: 'rate' | 'p99' = 'rate',
): Target {
  const both = ours !== undefined && base !== undefined;
  if (metric === 'p99') {
    const a = ours?.p99;
    const b = base?.p99;
    const detail = a && b ? ` (${formatMs(a.median)} vs ${formatMs(b.median)} ms)` : '';
    return {
      what,
      goal: goalText(goal, '×'),
      ...judge(a && b ? pairedRatios(a, b) : [], goal, '×', detail),
      cpu: null,
    };
  }
  const cpuDetail =
    ours?.cpuUs !== undefined && base?.cpuUs !== undefined
      ? ` (${formatInt(ours.cpuUs)} vs ${formatInt(base.cpuUs)} µs/req)`
      : '';
  return {
    what,
    goal: goalText(goal, '×'),
    ...judge(both ? pairedRatios(ours.rate, base.rate) : [], goal, '×'),
    cpu: judge(both ? pairedRatios(ours.perCpuSec, base.perCpuSec) : [], goal, '×', cpuDetail),
  };
}

/** Above this share of the machine's CPU, other work (or steal) makes the verdicts unreliable. */
const BUSY_SHARE = 0.1;

function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 ? 1 : 0)} %`;
}

function otherWorkLine(machine: MachineInfo): string {
  const other = machine.otherWork;
  if (other === null) {
    return `- Load average (1 min) at start ${machine.loadStart.toFixed(2)} (other work on the machine could not be measured here: no /proc)`;
  }
  return (
    `- Other work on the machine during the run: ${percent(other.otherShare)} of its CPU ` +
    `(machine busy time, less this benchmark's processes${other.redisCounted ? ' and the Redis server' : '; the Redis server could not be read and counts as other work'}); ` +
    `hypervisor steal ${percent(other.stealShare)}`
  );
}

/** What the targets mean, for a reader who has only this file. */
const TARGETS_EXPLAINED =
  'Each row compares two measurements of this run. The end-to-end rows put a gateway between a load ' +
  'generator (fixed connections, every request with a valid API key) and a small upstream, and compare ' +
  'requests served per second: `portcullis` (API-key authentication, a token-bucket rate limit kept in ' +
  'memory and a proxied route with a path rewrite) must serve at least 1.3 times what a bare ' +
  'http-proxy-middleware 4 proxy doing nothing else serves (`hpm-bare`) and 1.6 times what the same ' +
  'features hand-assembled from a key check, express-rate-limit and http-proxy-middleware serve ' +
  '(`hand-composed`), with a 99th-percentile latency no worse than the bare proxy’s; with its rate limit ' +
  'kept in Redis (`portcullis-redis`) it must serve 1.5 times the hand-assembled stack on rate-limit-redis. ' +
  'Prometheus metrics (`portcullis+metrics`) may cost at most 10 % of the requests per second; the ' +
  'observability hooks every request passes when nobody subscribes to events, metrics or traces may take ' +
  'at most 2 % of the gateway’s CPU (measured from CPU profiles, see "Observability hooks"); OpenTelemetry ' +
  'tracing with every span sampled (`portcullis+otel`) is reported without a goal. The decision rows time ' +
  'the rate-limit stores alone, outside HTTP: portcullis’ MemoryStore must decide at least twice as many ' +
  'requests per second as express-rate-limit’s, and its RedisStore 1.5 times as many as rate-limit-redis ' +
  'when 64 decisions wait on Redis at once (a busy gateway) and at least as many when each decision is ' +
  'alone (a quiet one). The memory row bounds what MemoryStore keeps per client it tracks: at most 200 ' +
  'bytes of heap. "measured" is the median, ' +
  'over the rounds, of the ratio between the two measurements of the same round, followed by the lowest ' +
  'and highest round (the tables further down divide medians, which can differ a little); the verdict ' +
  'judges the median. The "CPU view" makes the same comparison per ' +
  'CPU-second of the process under test instead of per second of wall time: other work on a shared ' +
  'machine disturbs it much less, so where the two verdicts disagree, suspect the machine.';

const HOOKS_EXPLAINED =
  'The `portcullis` scenario again, under the same load, in a fresh process per round, with V8’s CPU ' +
  'profiler sampling its main thread (the one that runs every request) over the measured seconds. Nobody ' +
  'listens there: no `onEvent`, no diagnostics-channel subscriber, `@opentelemetry/api` installed but no ' +
  'tracer provider. A sample counts as hook time when one of the hooks is on its stack, so that what they ' +
  'call counts too: the per-event-type `isListening` checks and the emitter (src/events.ts), the ' +
  'request-ended hook `takeRequest` / `trackRequest` and its `close` listener with the in-flight count ' +
  '(src/request-completed.ts), the tracing provider check `tracing()?.tracer()`, `traceServerRoute` and ' +
  'the per-attempt span check (src/tracing/); samples anywhere in `node:diagnostics_channel` count as well, ' +
  'even those of Node’s own HTTP channels. The share is of the main thread’s busy (not idle) samples, ' +
  'counted rather than weighed by the time to the next sample, so that a moment the whole process waits ' +
  'for a core of a busy machine does not count for whatever function it stopped in. V8’s profiler counts a function inlined into its caller as the caller, which would hide a small ' +
  'hook, so the profiled process runs with inlining off (`--no-turbo-inlining --no-maglev-inlining`): each ' +
  'hook is then a call of its own and pays for the call, which matters most to the smallest functions, so ' +
  'the share leans high rather than low. The req/s here are those of that slower, profiled process: not ' +
  'figures to compare with the end-to-end table.';

export function renderReport(input: ReportInput): { text: string; markdown: string } {
  const { machine, settings } = input;
  const parts: string[] = [];
  const targets: Target[] = [];

  parts.push(
    [
      `- Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}`,
      `- Node ${machine.node}; date ${machine.date}; run took ${Math.round(input.elapsedSec)} s ` +
        `(${Object.entries(input.sectionSeconds)
          .map(([name, seconds]) => `${name} ${Math.round(seconds)} s`)
          .join(', ')})`,
      otherWorkLine(machine),
      ...(input.e2e || input.hooks
        ? [
            `- Load generator: ${settings.loadGeneratorVersion}; ${settings.connections} connections, pipelining 1; ` +
              `${settings.warmupSec} s warm-up (discarded) then ${settings.durationSec} s measured, per scenario per round; ` +
              `${settings.rounds} rounds, scenario order rotated each round; each scenario in its own process, started fresh per measurement; medians`,
          ]
        : []),
    ].join('\n'),
  );

  if (input.e2e) {
    const e2e = input.e2e;
    const summaries = new Map<ScenarioName, Summary>();
    for (const name of input.scenarios) {
      const s = summarise(e2e[name]);
      if (s) summaries.set(name, s);
    }
    const rows = input.scenarios.map((name) => {
      const outcome = e2e[name];
      const s = summaries.get(name);
      const status = outcome.failed
        ? `FAILED: ${outcome.failed}`
        : outcome.unavailable
          ? `unavailable: ${outcome.unavailable}`
          : 'ok';
      return [
        name,
        s ? formatInt(s.rate.median) : '–',
        s ? formatMs(s.p50.median) : '–',
        s ? formatMs(s.p99.median) : '–',
        s ? formatInt(s.cpu.median) : '–',
        s ? formatInt(s.upstreamCpu.median) : '–',
        String(outcome.runs.length),
        status,
      ];
    });
    parts.push(
      `## End to end\n\n${markdownTable(E2E_HEADER, rows)}\n\n` +
        '"server CPU" is the user + system CPU time of the process under test (the gateway; for `direct` the upstream) ' +
        'divided by the requests it served while measured: it moves less than req/s when other work shares the machine ' +
        '(not time waiting for a core, only caches and frequency), ' +
        'and on a machine where that process is the bottleneck its ratio is the capacity ratio.',
    );

    const baselines: ScenarioName[] = [
      'direct',
      'hpm-bare',
      'hand-composed',
      'hand-composed-redis',
      'portcullis',
    ];
    const ratioTable = (metric: 'rate' | 'p50' | 'p99' | 'cpu', title: string): string => {
      const header = ['scenario', ...baselines.map((b) => `÷ ${b}`)];
      const body = input.scenarios.map((name) => {
        const s = summaries.get(name);
        return [
          name,
          ...baselines.map((b) => {
            const base = summaries.get(b);
            return s && base ? formatRatio(s[metric].median / base[metric].median) : '–';
          }),
        ];
      });
      return `### ${title}\n\n${markdownTable(header, body)}`;
    };
    parts.push(
      [
        ratioTable('rate', 'req/s as a ratio (higher is better)'),
        ratioTable('p50', 'p50 latency as a ratio (lower is better)'),
        ratioTable('p99', 'p99 latency as a ratio (lower is better)'),
        ratioTable('cpu', 'server CPU per request as a ratio (lower is better)'),
      ].join('\n\n'),
    );
    parts.push(
      `Scenarios:\n\n${input.scenarios.map((n) => `- \`${n}\`: ${SCENARIO_INFO[n].description}`).join('\n')}`,
    );

    const get = (name: ScenarioName): Summary | undefined => summaries.get(name);
    const pc = get('portcullis');
    targets.push(
      ratioTarget('portcullis vs hpm-bare, req/s', pc, get('hpm-bare'), atLeast(1.3)),
      ratioTarget('portcullis vs hand-composed, req/s', pc, get('hand-composed'), atLeast(1.6)),
      ratioTarget('portcullis vs hpm-bare, p99 latency', pc, get('hpm-bare'), atMost(1), 'p99'),
      ratioTarget(
        'portcullis-redis vs hand-composed-redis, req/s',
        get('portcullis-redis'),
        get('hand-composed-redis'),
        atLeast(1.5),
      ),
      ratioTarget(
        'portcullis+metrics vs portcullis, req/s (metrics cost under 10 %)',
        get('portcullis+metrics'),
        pc,
        atLeast(0.9),
      ),
      ratioTarget(
        'portcullis+otel vs portcullis, req/s (a CLIENT span per request, all sampled)',
        get('portcullis+otel'),
        pc,
        null,
      ),
    );
  }

  if (input.hooks) {
    const h = input.hooks;
    const rounds = h.rounds;
    const roundRows = rounds.map((r, i) => [
      String(i + 1),
      formatInt(r.requestsPerSec),
      formatInt(r.busyUsPerRequest),
      `${formatInt(r.hookSamples)} of ${formatInt(r.busySamples)}`,
      r.hooksUsPerRequest.toFixed(2),
      formatIn(r.share, '%'),
    ]);
    // Each hook's mean share over the rounds.
    const byHook = new Map<string, number>();
    for (const r of rounds) {
      for (const part of r.parts) byHook.set(part.name, (byHook.get(part.name) ?? 0) + part.share);
    }
    const hookRows = [...byHook.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, sum]) => [name, formatIn(sum / rounds.length, '%')]);
    parts.push(
      `## Observability hooks with nobody listening\n\n${HOOKS_EXPLAINED} Sampling every ${h.intervalUs} µs.` +
        `${h.failed ? `\n\n**FAILED:** ${h.failed}` : ''}\n\n` +
        markdownTable(
          [
            'round',
            'req/s (profiled, no inlining)',
            'main thread busy µs/req',
            'hook samples of busy samples',
            'hooks µs/req',
            'hooks share',
          ],
          roundRows,
        ) +
        (hookRows.length > 0
          ? `\n\nBy the outermost hook on the stack (mean share over the rounds):\n\n${markdownTable(['hook', 'share of busy samples'], hookRows)}`
          : ''),
    );
    const perRequest =
      rounds.length > 0
        ? ` (${median(rounds.map((r) => r.hooksUsPerRequest)).toFixed(2)} of ${formatInt(median(rounds.map((r) => r.busyUsPerRequest)))} µs/req)`
        : '';
    const goal = atMost(0.02);
    targets.push({
      what: 'observability hooks with nobody listening, share of the gateway’s main-thread CPU',
      goal: goalText(goal, '%'),
      ...judge(
        rounds.map((r) => r.share),
        goal,
        '%',
        perRequest,
      ),
      cpu: null,
    });
  }

  const stores = (d: DecisionsResult) => {
    const find = (prefix: string) =>
      rated(d.rows.find((r) => r.name.startsWith(prefix) && !r.unavailable));
    return {
      pcMemory: find('portcullis MemoryStore'),
      erlMemory: find('express-rate-limit MemoryStore'),
      pcRedis: find('portcullis RedisStore'),
      rlr: find('rate-limit-redis'),
    };
  };
  const decisionsText = (d: DecisionsResult): string =>
    `Redis stores with ${d.inFlight} decision${d.inFlight === 1 ? '' : 's'} in flight:\n\n${decisionsTable(d)}`;
  if (input.decisions || input.decisionsAlone) {
    const any = (input.decisions ?? input.decisionsAlone) as DecisionsResult;
    parts.push(
      `## Rate-limit decisions per second\n\n${any.keys.toLocaleString('en-US')} keys, one pseudo-random key sequence for all; ` +
        'memory stores one decision after another (a promise is awaited, a sync answer is not); ' +
        'Redis stores with a fixed number of decisions in flight (64: a busy gateway; 1: each decision alone), one ioredis client each; ' +
        `${any.rounds} rounds of ${any.roundMs} ms, interleaved; medians. Decisions per CPU-second divide by the CPU time ` +
        'the benchmark process spent (user + system), which other work on the machine moves less than wall time; for Redis stores it ' +
        'counts only the client side, the part a gateway process pays.' +
        [input.decisions, input.decisionsAlone]
          .filter((d): d is DecisionsResult => d !== null)
          .map((d) => `\n\n${decisionsText(d)}`)
          .join(''),
    );
  }
  if (input.decisions) {
    const d = stores(input.decisions);
    const n = input.decisions.inFlight;
    targets.push(
      ratioTarget(
        'MemoryStore vs express-rate-limit MemoryStore, decisions/s',
        d.pcMemory,
        d.erlMemory,
        atLeast(2),
      ),
      ratioTarget(
        `RedisStore vs rate-limit-redis, decisions/s, ${n} in flight (CPU view: client side)`,
        d.pcRedis,
        d.rlr,
        atLeast(1.5),
      ),
    );
  }
  if (input.decisionsAlone) {
    const d = stores(input.decisionsAlone);
    const n = input.decisionsAlone.inFlight;
    targets.push(
      ratioTarget(
        `RedisStore vs rate-limit-redis, decisions/s, ${n} in flight (CPU view: client side)`,
        d.pcRedis,
        d.rlr,
        atLeast(1),
      ),
    );
  }

  if (input.memory) {
    const m = input.memory;
    parts.push(
      `## Memory\n\nHeap (used + ArrayBuffers) after forced GC, from before the store exists to after it tracks the keys ` +
        `(keys like \`${m.keyExample}\`; the key strings the store keeps are counted).\n\n${memoryTables(m)}`,
    );
    const pc = m.perKey.find((r) => r.name.startsWith('portcullis'));
    const goal = atMost(200);
    targets.push({
      what: 'MemoryStore bytes per tracked key',
      goal: goalText(goal, 'B'),
      ...judge(pc ? [pc.bytesPerKey] : [], goal, 'B'),
      cpu: null,
    });
  }

  if (input.sectionErrors.length > 0) {
    parts.push(`## Errors\n\n${input.sectionErrors.map((e) => `- ${e}`).join('\n')}`);
  }

  const targetTable = markdownTable(
    ['target', 'goal', 'measured', 'verdict', 'CPU view', 'CPU verdict'],
    targets.map((t) => [
      t.what,
      t.goal,
      t.measured,
      t.verdict,
      t.cpu?.measured ?? '',
      t.cpu?.verdict ?? '',
    ]),
  );
  const warnings: string[] = [];
  const other = machine.otherWork;
  if (other === null && machine.loadStart > machine.cores / 2) {
    warnings.push(
      `the machine was busy before the run started (load average ${machine.loadStart.toFixed(1)} on ${machine.cores} cores)`,
    );
  }
  if (other !== null && other.otherShare > BUSY_SHARE) {
    warnings.push(
      `other work used ${percent(other.otherShare)} of the machine's CPU during the run`,
    );
  }
  if (other !== null && other.stealShare > BUSY_SHARE) {
    warnings.push(`the hypervisor gave ${percent(other.stealShare)} of the CPU to other guests`);
  }
  if (settings.rounds < 3)
    warnings.push(`only ${settings.rounds} round(s) (the targets ask for ≥ 3)`);
  if (settings.durationSec < 5) warnings.push(`only ${settings.durationSec} s per measurement`);
  const caution =
    warnings.length > 0
      ? `\n\n**Verdicts are not reliable in this run:** ${warnings.join('; ')}. Run again on a quiet machine with the defaults.`
      : '';
  parts.splice(1, 0, `## Targets\n\n${TARGETS_EXPLAINED}${caution}\n\n${targetTable}`);

  const body = parts.join('\n\n');
  const markdown = `# portcullis benchmark results\n\nWritten by \`npm run bench\` (bench/run.ts); do not edit by hand.\n\n${body}\n`;
  return { text: body, markdown };
}
