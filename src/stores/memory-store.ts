import { type MemoryStoreOptions, parseMemoryStoreOptions } from '../schema/stores.js';
import { fixedWindowDecide, fixedWindowStart } from './algorithms/fixed-window.js';
import { SlidingLog, slidingWindowDecide } from './algorithms/sliding-window.js';
import {
  tokenBucketDecide,
  tokenBucketLevel,
  tokenBucketRefund,
  tokenBucketTtl,
} from './algorithms/token-bucket.js';
import type { ChargeReceipt, Clock, Policy, RateLimitDecision, RateLimitStore } from './types.js';

export type { MemoryStoreOptions } from '../schema/stores.js';

const TOKEN_BUCKET = 0;
const FIXED_WINDOW = 1;
const SLIDING_WINDOW = 2;
const NONE = -1;
/** Numbers per slot in the state slab: `a`, `b` and the time the state is empty again. */
const STRIDE = 3;

function kindOf(policy: Policy): number {
  const algorithm = policy.algorithm;
  if (algorithm === 'token-bucket') return TOKEN_BUCKET;
  if (algorithm === 'fixed-window') return FIXED_WINDOW;
  if (algorithm === 'sliding-window') return SLIDING_WINDOW;
  throw new TypeError(`unknown rate limit algorithm '${String(algorithm)}'`);
}

/** The counters of one policy (name and algorithm): client key → slot. */
class Table {
  readonly slots = new Map<string, number>();
}

/**
 * A rate limit store in this process's memory. Decisions are synchronous (no
 * promise tick), exact and atomic across a request's policies. Memory stays
 * bounded: at most `maxKeys` counters (one per client key and policy) are
 * kept, the least recently used being forgotten first, and expired state is
 * swept by an `unref`ed timer. State lives in typed arrays (no per-key
 * objects besides the key string), about 100 bytes per counter.
 * For several gateway processes use {@link RedisStore}.
 *
 * Defaults: `maxKeys` 100 000, sweep every 60 s, `clock` `Date.now`.
 *
 * @example
 * const store = new MemoryStore({ maxKeys: 50_000 });
 * app.use(rateLimit({ limit: 100, window: '1m', store }));
 */
export class MemoryStore implements RateLimitStore {
  private readonly maxKeys: number;
  private readonly clock: Clock;
  private readonly realClock: boolean;
  private timer: NodeJS.Timeout | null;
  /** One table per algorithm, by policy name. */
  private readonly tables: [Map<string, Table>, Map<string, Table>, Map<string, Table>] = [
    new Map(),
    new Map(),
    new Map(),
  ];
  // The slab: slot i's numbers at num[i * STRIDE ...], its neighbours in the LRU list, its key and table.
  private capacity = 0;
  private used = 0;
  private count = 0;
  private num = new Float64Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private keys: Array<string | null> = [];
  private owners: Array<Table | null> = [];
  private logs: Array<SlidingLog | null> = [];
  private free: number[] = [];
  /** Most and least recently used slots. */
  private newest = NONE;
  private oldest = NONE;
  /** The tables and kinds of the last policies array seen (usually the same frozen array). */
  private lastPolicies: readonly Policy[] | null = null;
  private lastTables: Table[] = [];
  private lastKinds: number[] = [];
  /** Per-call scratch: the slot of each policy of the request being decided. */
  private scratch = new Int32Array(8);

  constructor(options: MemoryStoreOptions = {}) {
    const { maxKeys, sweepIntervalMs, clock } = parseMemoryStoreOptions(options).value;
    this.maxKeys = maxKeys;
    this.clock = clock ?? Date.now;
    this.realClock = this.clock === Date.now;
    this.timer = setInterval(() => this.sweep(), sweepIntervalMs);
    this.timer.unref();
  }

  /** How many counters (client key × policy) are tracked right now. */
  get size(): number {
    return this.count;
  }

  /**
   * Decides every policy for `key` at once; charges all of them or none.
   * Synchronous. Throws `TypeError` on a policy with an unknown algorithm.
   * A charge writes its time into `receipt` (for {@link MemoryStore.refund}).
   */
  consume(
    key: string,
    policies: readonly Policy[],
    cost: number,
    receipt?: ChargeReceipt,
  ): RateLimitDecision[] {
    // A direct Date.now() call is one the JIT can lower; an injected clock is called as given.
    const now = this.realClock ? Date.now() : this.clock();
    if (policies !== this.lastPolicies) this.resolve(policies);
    const tables = this.lastTables;
    const kinds = this.lastKinds;
    const n = policies.length;
    if (n === 1) {
      // The common case, without the scratch bookkeeping.
      const policy = policies[0] as Policy;
      const table = tables[0] as Table;
      const slot = table.slots.get(key) ?? NONE;
      if (slot !== NONE) this.touch(slot);
      if (kinds[0] === TOKEN_BUCKET)
        return this.consumeTokenBucket(key, table, slot, policy, now, cost, receipt);
      const decision = this.decide(slot, policy, kinds[0] as number, now, cost);
      if (decision.allowed) {
        if (receipt !== undefined) receipt.value = now;
        this.charge(
          slot === NONE ? this.allocate(key, table) : slot,
          policy,
          kinds[0] as number,
          now,
          cost,
        );
      }
      return [decision];
    }
    if (this.scratch.length < n) this.scratch = new Int32Array(n * 2);
    const scratch = this.scratch;
    const decisions: RateLimitDecision[] = new Array(n);
    let admitted = true;
    for (let i = 0; i < n; i++) {
      const slot = (tables[i] as Table).slots.get(key) ?? NONE;
      scratch[i] = slot;
      if (slot !== NONE) this.touch(slot);
      const decision = this.decide(slot, policies[i] as Policy, kinds[i] as number, now, cost);
      decisions[i] = decision;
      if (!decision.allowed) admitted = false;
    }
    if (!admitted) {
      // Nothing is charged: the policies that would admit report what is left now.
      for (let i = 0; i < n; i++) {
        if ((decisions[i] as RateLimitDecision).allowed) {
          decisions[i] = this.decide(
            scratch[i] as number,
            policies[i] as Policy,
            kinds[i] as number,
            now,
            0,
          );
        }
      }
    } else {
      if (receipt !== undefined) receipt.value = now;
      for (let i = 0; i < n; i++) {
        let slot = scratch[i] as number;
        if (slot === NONE) slot = this.allocate(key, tables[i] as Table);
        this.charge(slot, policies[i] as Policy, kinds[i] as number, now, cost);
      }
    }
    return decisions;
  }

  /**
   * One token bucket policy (the default, and the hot path): its level is drained once and
   * serves both the decision and the charge.
   */
  private consumeTokenBucket(
    key: string,
    table: Table,
    slot: number,
    policy: Policy,
    now: number,
    cost: number,
    receipt: ChargeReceipt | undefined,
  ): RateLimitDecision[] {
    const { limit, windowMs } = policy;
    let at = slot * STRIDE;
    const level =
      slot === NONE
        ? 0
        : tokenBucketLevel(this.num[at] as number, this.num[at + 1] as number, limit, now);
    const decision = tokenBucketDecide(policy.name, limit, windowMs, level, cost);
    if (decision.allowed) {
      if (receipt !== undefined) receipt.value = now;
      if (slot === NONE) at = this.allocate(key, table) * STRIDE;
      this.writeTokenBucket(at, level + cost * windowMs, now, limit);
    }
    return [decision];
  }

  /** Finds (or creates) the table of each policy; remembered for the next call with the same array. */
  private resolve(policies: readonly Policy[]): void {
    const tables: Table[] = [];
    const kinds: number[] = [];
    for (const policy of policies) {
      const kind = kindOf(policy);
      const byName = this.tables[kind as 0 | 1 | 2];
      let table = byName.get(policy.name);
      if (table === undefined) {
        table = new Table();
        byName.set(policy.name, table);
      }
      tables.push(table);
      kinds.push(kind);
    }
    this.lastPolicies = policies;
    this.lastTables = tables;
    this.lastKinds = kinds;
  }

  private decide(
    slot: number,
    policy: Policy,
    kind: number,
    now: number,
    cost: number,
  ): RateLimitDecision {
    const { name, limit, windowMs } = policy;
    const num = this.num;
    const at = slot * STRIDE;
    if (kind === TOKEN_BUCKET) {
      const level =
        slot === NONE ? 0 : tokenBucketLevel(num[at] as number, num[at + 1] as number, limit, now);
      return tokenBucketDecide(name, limit, windowMs, level, cost);
    }
    if (kind === FIXED_WINDOW) {
      const start = fixedWindowStart(now, windowMs);
      const count = slot !== NONE && num[at] === start ? (num[at + 1] as number) : 0;
      return fixedWindowDecide(name, limit, windowMs, start, count, now, cost);
    }
    const log = slot === NONE ? null : this.logs[slot];
    if (log == null) return slidingWindowDecide(name, limit, windowMs, 0, 0, 0, now, cost);
    const live = log.trim(now - windowMs);
    const blocking = live + cost > limit && cost <= limit ? log.fromNewest(limit - cost) : 0;
    return slidingWindowDecide(name, limit, windowMs, live, log.newest(), blocking, now, cost);
  }

  private charge(slot: number, policy: Policy, kind: number, now: number, cost: number): void {
    const { limit, windowMs } = policy;
    const num = this.num;
    const at = slot * STRIDE;
    if (kind === TOKEN_BUCKET) {
      const level = tokenBucketLevel(num[at] as number, num[at + 1] as number, limit, now);
      this.writeTokenBucket(at, level + cost * windowMs, now, limit);
    } else if (kind === FIXED_WINDOW) {
      const start = fixedWindowStart(now, windowMs);
      num[at + 1] = num[at] === start ? (num[at + 1] as number) + cost : cost;
      num[at] = start;
      num[at + 2] = start + windowMs;
    } else {
      let log = this.logs[slot];
      if (log == null) {
        log = new SlidingLog();
        this.logs[slot] = log;
      }
      log.record(now, cost);
      num[at + 2] = log.newest() + windowMs;
    }
  }

  /** Stores a charged bucket: its level, when, and until when it matters (full again). */
  private writeTokenBucket(at: number, level: number, now: number, limit: number): void {
    const num = this.num;
    num[at] = level;
    num[at + 1] = now;
    num[at + 2] = now + tokenBucketTtl(level, limit);
  }

  /** A slot for a new counter: a freed one, a new one, or the least recently used one. */
  private allocate(key: string, table: Table): number {
    let slot: number;
    if (this.free.length > 0) {
      slot = this.free.pop() as number;
    } else if (this.used < this.maxKeys) {
      if (this.used === this.capacity) this.grow();
      slot = this.used++;
    } else {
      slot = this.oldest;
      this.release(slot);
      this.free.pop();
    }
    const at = slot * STRIDE;
    this.num[at] = 0;
    this.num[at + 1] = 0;
    this.num[at + 2] = 0;
    this.keys[slot] = key;
    this.owners[slot] = table;
    this.logs[slot] = null;
    table.slots.set(key, slot);
    this.count++;
    this.pushNewest(slot);
    return slot;
  }

  private grow(): void {
    const capacity = Math.min(this.maxKeys, Math.max(64, this.capacity * 2));
    const num = new Float64Array(capacity * STRIDE);
    num.set(this.num);
    const prev = new Int32Array(capacity);
    prev.set(this.prev);
    const next = new Int32Array(capacity);
    next.set(this.next);
    this.num = num;
    this.prev = prev;
    this.next = next;
    this.capacity = capacity;
  }

  /** Forgets a slot's counter and puts the slot on the free list. */
  private release(slot: number): void {
    const table = this.owners[slot];
    const key = this.keys[slot];
    if (table != null && key != null) table.slots.delete(key);
    this.unlink(slot);
    this.keys[slot] = null;
    this.owners[slot] = null;
    this.logs[slot] = null;
    this.free.push(slot);
    this.count--;
  }

  /**
   * Gives back the charge `consume(key, policies, cost, receipt)` made: a token bucket
   * gets `cost × window` back (never more than it holds now), a fixed window `cost` if the
   * charge was in its current window, a sliding log loses the entries stamped with the
   * charge's time. Synchronous; at most once per receipt. A counter forgotten since
   * (`reset`, eviction, expiry) has nothing to give back.
   */
  refund(key: string, policies: readonly Policy[], cost: number, receipt: ChargeReceipt): void {
    const chargedAt = receipt.value;
    if (typeof chargedAt !== 'number' || !(cost > 0)) return;
    const now = this.clock();
    if (policies !== this.lastPolicies) this.resolve(policies);
    const tables = this.lastTables;
    const kinds = this.lastKinds;
    const num = this.num;
    for (let i = 0; i < policies.length; i++) {
      const slot = (tables[i] as Table).slots.get(key);
      if (slot === undefined) continue;
      const { limit, windowMs } = policies[i] as Policy;
      const at = slot * STRIDE;
      const kind = kinds[i];
      if (kind === TOKEN_BUCKET) {
        const level = tokenBucketRefund(
          num[at] as number,
          num[at + 1] as number,
          limit,
          windowMs,
          now,
          cost,
        );
        num[at] = level;
        num[at + 2] = (num[at + 1] as number) + tokenBucketTtl(level, limit);
      } else if (kind === FIXED_WINDOW) {
        if (num[at] === fixedWindowStart(chargedAt, windowMs)) {
          num[at + 1] = Math.max((num[at + 1] as number) - cost, 0);
        }
      } else {
        const log = this.logs[slot];
        if (log != null && log.remove(chargedAt, cost) > 0 && log.trim(now - windowMs) > 0) {
          num[at + 2] = log.newest() + windowMs;
        }
      }
    }
  }

  /** Forgets `key` under every policy. */
  reset(key: string): void {
    for (const tables of this.tables) {
      for (const table of tables.values()) {
        const slot = table.slots.get(key);
        if (slot !== undefined) this.release(slot);
      }
    }
  }

  /** Forgets every counter whose state has fully expired; returns how many. Runs on a timer. */
  sweep(): number {
    const now = this.clock();
    let removed = 0;
    let slot = this.oldest;
    while (slot !== NONE) {
      const newer = this.prev[slot] as number;
      if ((this.num[slot * STRIDE + 2] as number) <= now) {
        this.release(slot);
        removed++;
      }
      slot = newer;
    }
    return removed;
  }

  /** Stops the sweep timer and forgets everything. */
  async close(): Promise<void> {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    for (const tables of this.tables) tables.clear();
    this.lastPolicies = null;
    this.lastTables = [];
    this.lastKinds = [];
    this.capacity = 0;
    this.used = 0;
    this.count = 0;
    this.num = new Float64Array(0);
    this.prev = new Int32Array(0);
    this.next = new Int32Array(0);
    this.keys = [];
    this.owners = [];
    this.logs = [];
    this.free = [];
    this.newest = NONE;
    this.oldest = NONE;
  }

  private touch(slot: number): void {
    if (slot === this.newest) return;
    this.unlink(slot);
    this.pushNewest(slot);
  }

  private pushNewest(slot: number): void {
    this.prev[slot] = NONE;
    this.next[slot] = this.newest;
    if (this.newest !== NONE) this.prev[this.newest] = slot;
    this.newest = slot;
    if (this.oldest === NONE) this.oldest = slot;
  }

  private unlink(slot: number): void {
    const prev = this.prev[slot] as number;
    const next = this.next[slot] as number;
    if (prev !== NONE) this.next[prev] = next;
    else if (this.newest === slot) this.newest = next;
    if (next !== NONE) this.prev[next] = prev;
    else if (this.oldest === slot) this.oldest = prev;
    this.prev[slot] = NONE;
    this.next[slot] = NONE;
  }
}
