// Memory of the rate-limit state:
//  - bytes per tracked key: heap (+ ArrayBuffers) after a forced GC, before the store is created
//    and after it tracks N distinct keys (N = the default maxKeys, so nothing is evicted and
//    anything preallocated is counted), divided by N. The key strings the store keeps count too.
//  - heap after 1,000,000 distinct keys with the default maxKeys: bounded, whatever the traffic.
// express-rate-limit's MemoryStore and rate-limiter-flexible's RateLimiterMemory are measured the
// same way for context.
//
// Needs --expose-gc: `npx tsx bench/memory.ts` re-runs itself as `node --expose-gc --import tsx`.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryStore as ErlMemoryStore, type Options as ErlOptions } from 'express-rate-limit';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { report } from './lib/children.js';
import { NEVER_REACHED_LIMIT } from './lib/constants.js';
import { loadStore, Unavailable } from './lib/portcullis.js';
import { formatBytes, markdownTable } from './lib/stats.js';

/** SPEC 4.4: `new MemoryStore()` tracks at most 100,000 keys. */
export const DEFAULT_MAX_KEYS = 100_000;
export const FLOOD_KEYS = 1_000_000;
const WINDOW_MS = 60_000;

export interface MemoryRow {
  name: string;
  keys: number;
  bytesPerKey: number;
}

export interface MemoryResult {
  keyExample: string;
  perKey: MemoryRow[];
  /** portcullis MemoryStore with default options after FLOOD_KEYS distinct keys. */
  flood: Array<{ name: string; keys: number; heapDeltaBytes: number; heapTotalBytes: number }>;
  unavailable?: string;
}

type Feed = (key: string) => unknown;
interface Subject {
  name: string;
  create: () => Promise<{ feed: Feed; close: () => Promise<void> }>;
}

const keyOf = (i: number): string => `client-${i.toString(36).padStart(6, '0')}`;

async function settledHeap(): Promise<number> {
  const gc = globalThis.gc;
  if (!gc) throw new Error('memory.ts needs --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Returns the heap growth (bytes) from before the store exists to after `keys` keys. */
async function heapGrowth(
  subject: Subject,
  keys: number,
): Promise<{ delta: number; total: number }> {
  const before = await settledHeap();
  const { feed, close } = await subject.create();
  for (let i = 0; i < keys; i++) {
    const answer = feed(keyOf(i));
    if (answer instanceof Promise) await answer;
  }
  const after = await settledHeap();
  await close();
  return { delta: after - before, total: after };
}

export async function runMemory(): Promise<MemoryResult> {
  let MemoryStore: Awaited<ReturnType<typeof loadStore<'MemoryStore'>>> | null = null;
  let unavailable: string | undefined;
  try {
    MemoryStore = await loadStore('MemoryStore');
  } catch (err) {
    if (!(err instanceof Unavailable)) throw err;
    unavailable = err.message;
  }
  const policies = [
    { name: 'bench', limit: NEVER_REACHED_LIMIT, windowMs: WINDOW_MS, algorithm: 'token-bucket' },
  ] as const;
  const subjects: Subject[] = [];
  if (MemoryStore) {
    const Store = MemoryStore;
    subjects.push({
      name: 'portcullis MemoryStore (default maxKeys)',
      create: async () => {
        const store = new Store();
        return {
          feed: (key) => store.consume(key, policies, 1),
          close: async () => {
            await store.close?.();
          },
        };
      },
    });
  }
  const others: Subject[] = [
    {
      name: 'express-rate-limit MemoryStore (unbounded)',
      create: async () => {
        const store = new ErlMemoryStore();
        // init() reads only windowMs; the full Options object is built by rateLimit() itself.
        store.init({ windowMs: WINDOW_MS } as ErlOptions);
        return { feed: (key) => store.increment(key), close: async () => store.shutdown() };
      },
    },
    {
      name: 'rate-limiter-flexible RateLimiterMemory (unbounded)',
      create: async () => {
        const limiter = new RateLimiterMemory({ points: NEVER_REACHED_LIMIT, duration: 60 });
        return { feed: (key) => limiter.consume(key), close: async () => {} };
      },
    },
  ];
  subjects.push(...others);

  const perKey: MemoryRow[] = [];
  for (const subject of subjects) {
    const { delta } = await heapGrowth(subject, DEFAULT_MAX_KEYS);
    perKey.push({
      name: subject.name,
      keys: DEFAULT_MAX_KEYS,
      bytesPerKey: delta / DEFAULT_MAX_KEYS,
    });
  }
  const flood: MemoryResult['flood'] = [];
  for (const subject of subjects.slice(0, MemoryStore ? 2 : 1)) {
    const { delta, total } = await heapGrowth(subject, FLOOD_KEYS);
    flood.push({
      name: subject.name,
      keys: FLOOD_KEYS,
      heapDeltaBytes: delta,
      heapTotalBytes: total,
    });
  }
  return { keyExample: keyOf(123), perKey, flood, ...(unavailable ? { unavailable } : {}) };
}

export function memoryTables(result: MemoryResult): string {
  const perKey = markdownTable(
    ['store', 'keys tracked', 'bytes per key'],
    result.perKey.map((r) => [
      r.name,
      r.keys.toLocaleString('en-US'),
      String(Math.round(r.bytesPerKey)),
    ]),
  );
  const flood = markdownTable(
    ['store', 'distinct keys sent', 'heap growth', 'heap after (used + ArrayBuffers)'],
    result.flood.map((r) => [
      r.name,
      r.keys.toLocaleString('en-US'),
      formatBytes(r.heapDeltaBytes),
      formatBytes(r.heapTotalBytes),
    ]),
  );
  const note = result.unavailable ? `\n\nportcullis: unavailable (${result.unavailable})` : '';
  return `${perKey}\n\n${flood}${note}`;
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  if (!globalThis.gc) {
    // Standalone without --expose-gc: run again with it.
    const child = spawnSync(
      process.execPath,
      ['--expose-gc', '--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url)],
      { stdio: 'inherit' },
    );
    process.exit(child.status ?? 1);
  }
  const asChild = process.argv.includes('--child');
  runMemory()
    .then((result) => {
      if (asChild) report({ type: 'result', data: result });
      else console.log(memoryTables(result));
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
