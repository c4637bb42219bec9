// Rate-limit decisions per second over 10,000 keys:
//   memory: portcullis MemoryStore.consume() (token bucket, bounded keys) beside
//           express-rate-limit's MemoryStore.increment() and rate-limiter-flexible's RateLimiterMemory;
//   Redis:  portcullis RedisStore.consume() beside rate-limit-redis (increment through the store API)
//           and rate-limiter-flexible's RateLimiterRedis, each with its own ioredis client and
//           64 decisions in flight (a busy gateway), or 1 (a quiet one: each decision alone).
// run.ts runs this twice: every row with 64 in flight, then the Redis rows with 1.
// Fairness: one key set and one pseudo-random key sequence for all; a sync answer is used as is
// and a promise is awaited (each library as the middleware would call it); warm-up first (it
// also creates every key); contenders interleaved over several rounds; medians.
//
// Run alone: `npx tsx bench/decisions.ts` (BENCH_DECISION_ROUNDS, BENCH_DECISION_MS;
// BENCH_DECISION_STORES=redis or memory for those rows only; BENCH_DECISION_IN_FLIGHT=1 for the
// Redis rows with one decision in flight instead of 64).

import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MemoryStore as ErlMemoryStore, type Options as ErlOptions } from 'express-rate-limit';
import { RedisStore as RateLimitRedisStore, type RedisReply } from 'rate-limit-redis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { cpuMicros, report } from './lib/children.js';
import { NEVER_REACHED_LIMIT } from './lib/constants.js';
import { loadStore, Unavailable } from './lib/portcullis.js';
import { connectRedis } from './lib/redis.js';
import { formatInt, formatRatio, keySequence, markdownTable, median } from './lib/stats.js';

export const KEY_COUNT = 10_000;
/** Redis decisions outstanding at any time, unless BENCH_DECISION_IN_FLIGHT says otherwise. */
export const DEFAULT_IN_FLIGHT = 64;
const WINDOW_MS = 60_000;

export interface DecisionRow {
  name: string;
  store: 'memory' | 'redis';
  /** Decisions per second, one per round. */
  perSec: number[];
  median: number;
  /** Decisions per CPU-second of the benchmark process, one per round: steady under noise. */
  perCpuSec: number[];
  medianPerCpuSec: number;
  unavailable?: string;
}

export interface DecisionsResult {
  keys: number;
  inFlight: number;
  roundMs: number;
  rounds: number;
  rows: DecisionRow[];
}

/** One decision; returns a value (sync stores) or a promise (async stores). */
type Decide = (key: string) => unknown;

interface Contender {
  name: string;
  store: 'memory' | 'redis';
  /** Builds the limiter; throws Unavailable with a reason when it cannot. */
  setup: () => Promise<{
    decide: Decide;
    check: (answer: unknown) => void;
    close: () => Promise<void>;
  }>;
}

const policy = {
  name: 'bench',
  limit: NEVER_REACHED_LIMIT,
  windowMs: WINDOW_MS,
  algorithm: 'token-bucket',
} as const;

function expectAllowedDecision(answer: unknown): void {
  // portcullis stores answer one RateLimitDecision per policy.
  const decisions = answer as Array<{ allowed: boolean }>;
  if (!Array.isArray(decisions) || decisions[0]?.allowed !== true) {
    throw new Error(`store refused or answered oddly: ${JSON.stringify(answer)}`);
  }
}

function expectHitsBelowLimit(answer: unknown): void {
  // express-rate-limit stores answer { totalHits, resetTime }.
  const info = answer as { totalHits?: number };
  if (typeof info?.totalHits !== 'number' || info.totalHits > NEVER_REACHED_LIMIT) {
    throw new Error(`store answered oddly: ${JSON.stringify(answer)}`);
  }
}

function expectRemaining(answer: unknown): void {
  // rate-limiter-flexible resolves a RateLimiterRes (and rejects when refused).
  const res = answer as { remainingPoints?: number };
  if (typeof res?.remainingPoints !== 'number' || res.remainingPoints < 0) {
    throw new Error(`limiter answered oddly: ${JSON.stringify(answer)}`);
  }
}

function contenders(prefix: string): Contender[] {
  return [
    {
      name: 'portcullis MemoryStore (token bucket)',
      store: 'memory',
      setup: async () => {
        const MemoryStore = await loadStore('MemoryStore');
        const store = new MemoryStore();
        const policies = [policy];
        return {
          decide: (key) => store.consume(key, policies, 1),
          check: expectAllowedDecision,
          close: async () => {
            await store.close?.();
          },
        };
      },
    },
    {
      name: 'express-rate-limit MemoryStore',
      store: 'memory',
      setup: async () => {
        const store = new ErlMemoryStore();
        // init() reads only windowMs; the full Options object is built by rateLimit() itself.
        store.init({ windowMs: WINDOW_MS } as ErlOptions);
        return {
          decide: (key) => store.increment(key),
          check: expectHitsBelowLimit,
          close: async () => store.shutdown(),
        };
      },
    },
    {
      name: 'rate-limiter-flexible RateLimiterMemory',
      store: 'memory',
      setup: async () => {
        const limiter = new RateLimiterMemory({
          points: NEVER_REACHED_LIMIT,
          duration: WINDOW_MS / 1000,
        });
        return {
          decide: (key) => limiter.consume(key),
          check: expectRemaining,
          close: async () => {},
        };
      },
    },
    {
      name: 'portcullis RedisStore',
      store: 'redis',
      setup: async () => {
        const RedisStore = await loadStore('RedisStore');
        const client = await connectRedis();
        const store = new RedisStore({ client, prefix: `${prefix}pc:` });
        const policies = [policy];
        return {
          decide: (key) => store.consume(key, policies, 1),
          check: expectAllowedDecision,
          close: async () => {
            await store.close?.();
            await client.quit();
          },
        };
      },
    },
    {
      name: 'rate-limit-redis (express-rate-limit store)',
      store: 'redis',
      setup: async () => {
        const client = await connectRedis();
        const store = new RateLimitRedisStore({
          // ioredis's call() resolves to `unknown`; Redis answers these scripts with RedisReply.
          sendCommand: (command: string, ...args: string[]) =>
            client.call(command, args) as Promise<RedisReply>,
          prefix: `${prefix}rlr:`,
        });
        // init() reads only windowMs; the full Options object is built by rateLimit() itself.
        await store.init({ windowMs: WINDOW_MS } as ErlOptions);
        return {
          decide: (key) => store.increment(key),
          check: expectHitsBelowLimit,
          close: async () => {
            await client.quit();
          },
        };
      },
    },
    {
      name: 'rate-limiter-flexible RateLimiterRedis',
      store: 'redis',
      setup: async () => {
        const client = await connectRedis();
        const limiter = new RateLimiterRedis({
          storeClient: client,
          points: NEVER_REACHED_LIMIT,
          duration: WINDOW_MS / 1000,
          keyPrefix: `${prefix}rlf`,
        });
        return {
          decide: (key) => limiter.consume(key),
          check: expectRemaining,
          close: async () => {
            await client.quit();
          },
        };
      },
    },
  ];
}

const SEQUENCE_LENGTH = 1 << 17;
const MASK = SEQUENCE_LENGTH - 1;
const keys = Array.from(
  { length: KEY_COUNT },
  (_, i) => `client-${i.toString(36).padStart(4, '0')}`,
);
const sequence = keySequence(KEY_COUNT, SEQUENCE_LENGTH);
let cursor = 0;

function nextKey(): string {
  return keys[sequence[cursor++ & MASK] as number] as string;
}

/** Memory stores: one decision after another, as one request after another would ask. */
async function timeSequential(
  decide: Decide,
  check: (a: unknown) => void,
  ms: number,
): Promise<Timing> {
  const cpuStart = cpuMicros();
  const start = performance.now();
  const end = start + ms;
  let ops = 0;
  let now = start;
  do {
    let answer: unknown;
    for (let j = 0; j < 1024; j++) {
      answer = decide(nextKey());
      if (answer instanceof Promise) answer = await answer;
    }
    check(answer);
    ops += 1024;
    now = performance.now();
  } while (now < end);
  return {
    perSec: ops / ((now - start) / 1000),
    perCpuSec: ops / ((cpuMicros() - cpuStart) / 1e6),
  };
}

/** Redis stores: `inFlight` decisions outstanding at any time. */
async function timeConcurrent(
  decide: Decide,
  check: (a: unknown) => void,
  ms: number,
  inFlight: number,
): Promise<Timing> {
  const cpuStart = cpuMicros();
  const start = performance.now();
  const end = start + ms;
  let ops = 0;
  const worker = async (): Promise<void> => {
    let answer: unknown;
    while (performance.now() < end) {
      answer = await decide(nextKey());
      ops++;
    }
    check(answer);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return {
    perSec: ops / ((performance.now() - start) / 1000),
    perCpuSec: ops / ((cpuMicros() - cpuStart) / 1e6),
  };
}

interface Timing {
  /** Decisions per wall-clock second. */
  perSec: number;
  /** Decisions per second of this process's CPU time (the gateway's side of the cost). */
  perCpuSec: number;
}

export async function runDecisions(
  options: {
    rounds?: number;
    roundMs?: number;
    inFlight?: number;
    log?: (line: string) => void;
  } = {},
): Promise<DecisionsResult> {
  const rounds = options.rounds ?? Number(process.env.BENCH_DECISION_ROUNDS ?? 5);
  const roundMs = options.roundMs ?? Number(process.env.BENCH_DECISION_MS ?? 1000);
  const inFlight =
    options.inFlight ?? Number(process.env.BENCH_DECISION_IN_FLIGHT ?? DEFAULT_IN_FLIGHT);
  if (!Number.isInteger(inFlight) || inFlight < 1) {
    throw new Error(`decisions in flight must be a whole number ≥ 1, not ${inFlight}`);
  }
  const time = (store: Contender['store']) =>
    store === 'memory'
      ? timeSequential
      : (decide: Decide, check: (a: unknown) => void, ms: number) =>
          timeConcurrent(decide, check, ms, inFlight);
  const log = options.log ?? (() => {});
  const prefix = `bench:${Date.now().toString(36)}${randomBytes(3).toString('hex')}:`;
  const only = process.env.BENCH_DECISION_STORES;
  const list = contenders(prefix).filter((c) => only === undefined || c.store === only);
  const rows: DecisionRow[] = list.map((c) => ({
    name: c.name,
    store: c.store,
    perSec: [],
    median: NaN,
    perCpuSec: [],
    medianPerCpuSec: NaN,
  }));
  const ready: Array<Awaited<ReturnType<Contender['setup']>> | null> = [];
  try {
    for (const [i, contender] of list.entries()) {
      const row = rows[i] as DecisionRow;
      try {
        const built = await contender.setup();
        // Warm-up: JIT, connections, scripts loaded, and every one of the keys created.
        await time(contender.store)(built.decide, built.check, Math.max(300, roundMs / 2));
        ready.push(built);
      } catch (err) {
        if (!(err instanceof Unavailable)) throw err;
        row.unavailable = err.message;
        ready.push(null);
        log(`  ${contender.name}: unavailable (${err.message})`);
      }
    }
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < list.length; k++) {
        // Rotate the order every round.
        const i = (k + round) % list.length;
        const built = ready[i];
        const contender = list[i] as Contender;
        if (!built) continue;
        const timing = await time(contender.store)(built.decide, built.check, roundMs);
        const row = rows[i] as DecisionRow;
        row.perSec.push(timing.perSec);
        row.perCpuSec.push(timing.perCpuSec);
        log(
          `  round ${round + 1}/${rounds}  ${contender.name.padEnd(44)} ${formatInt(timing.perSec)}/s` +
            `  (${formatInt(timing.perCpuSec)} per CPU-second)`,
        );
      }
    }
  } finally {
    for (const built of ready) await built?.close();
  }
  for (const row of rows) {
    row.median = median(row.perSec);
    row.medianPerCpuSec = median(row.perCpuSec);
  }
  return { keys: KEY_COUNT, inFlight, roundMs, rounds, rows };
}

export function decisionsTable(result: DecisionsResult): string {
  const baselineRow = (store: 'memory' | 'redis'): DecisionRow | undefined =>
    result.rows.find((r) =>
      store === 'memory'
        ? r.name.startsWith('express-rate-limit')
        : r.name.startsWith('rate-limit-redis'),
    );
  return markdownTable(
    [
      'limiter',
      'store',
      'decisions/s (median)',
      'vs the express-rate-limit store',
      'decisions per CPU-second (median)',
      'vs the express-rate-limit store',
      'rounds',
    ],
    result.rows.map((r) => {
      const base = baselineRow(r.store);
      const ok = !r.unavailable && base !== undefined && !base.unavailable;
      return [
        r.name,
        r.store === 'memory' ? 'memory' : `Redis, ${result.inFlight} in flight`,
        r.unavailable ? `unavailable: ${r.unavailable}` : formatInt(r.median),
        ok ? formatRatio(r.median / (base as DecisionRow).median) : '–',
        r.unavailable ? '–' : formatInt(r.medianPerCpuSec),
        ok ? formatRatio(r.medianPerCpuSec / (base as DecisionRow).medianPerCpuSec) : '–',
        String(r.perSec.length),
      ];
    }),
  );
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const asChild = process.argv.includes('--child');
  runDecisions({ log: (line) => console.log(line) })
    .then((result) => {
      if (asChild) report({ type: 'result', data: result });
      else console.log(`\n${decisionsTable(result)}`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
