import { expectFunction, expectInteger, expectObject, rejectUnknownKeys } from '../options.js';
import { fixedWindowDecide, fixedWindowStart } from '../rate-limit/algorithms/fixed-window.js';
import { SlidingLog, slidingWindowDecide } from '../rate-limit/algorithms/sliding-window.js';
import {
  tokenBucketDecide,
  tokenBucketLevel,
  tokenBucketTtl,
} from '../rate-limit/algorithms/token-bucket.js';
import type { RateLimitDecision } from '../types.js';
import type { Clock, Policy, RateLimitStore } from './types.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most client keys tracked at once; beyond it the least recently used
   * key is forgotten. Default `100_000`.
   */
  maxKeys?: number;
  /** How often expired state is swept, in milliseconds. Default `60_000`. */
  sweepIntervalMs?: number;
  /** The clock, in milliseconds. Default `Date.now`. Injectable for tests. */
  clock?: Clock;
}

const TOKEN_BUCKET = 0;
const FIXED_WINDOW = 1;
const SLIDING_WINDOW = 2;

/** The state of one policy for one key: `(a, b)` is `(level, at)` or `(start, count)`; `log` for sliding windows. */
class PolicyState {
  next: PolicyState | null = null;
  a = 0;
  b = 0;
  log: SlidingLog | null = null;
  constructor(
    readonly name: string,
    readonly kind: number,
  ) {}
}

/** One client key: its policies' states, and its place in the least-recently-used list. */
class Entry {
  prev: Entry | null = null;
  next: Entry | null = null;
  states: PolicyState | null = null;
  /** When every state of this key is back to empty; the sweep forgets it then. */
  expiresAt = 0;
  constructor(readonly key: string) {}
}

function kindOf(policy: Policy): number {
  const algorithm = policy.algorithm;
  if (algorithm === 'token-bucket') return TOKEN_BUCKET;
  if (algorithm === 'fixed-window') return FIXED_WINDOW;
  if (algorithm === 'sliding-window') return SLIDING_WINDOW;
  throw new TypeError(`unknown rate limit algorithm '${String(algorithm)}'`);
}

function findState(entry: Entry, name: string, kind: number): PolicyState | null {
  let state = entry.states;
  while (state !== null) {
    if (state.name === name && state.kind === kind) return state;
    state = state.next;
  }
  return null;
}

/**
 * A rate limit store in this process's memory. Decisions are synchronous (no
 * promise tick), exact and atomic across a request's policies. Memory stays
 * bounded: at most `maxKeys` client keys are tracked, the least recently used
 * being forgotten first, and expired state is swept by an `unref`ed timer.
 * For several gateway processes use {@link RedisStore}.
 *
 * Defaults: `maxKeys` 100 000, sweep every 60 s, `clock` `Date.now`.
 *
 * @example
 * const store = new MemoryStore({ maxKeys: 50_000 });
 * app.use(rateLimit({ limit: 100, window: '1m', store }));
 */
export class MemoryStore implements RateLimitStore {
  readonly #entries = new Map<string, Entry>();
  readonly #maxKeys: number;
  readonly #clock: Clock;
  #timer: NodeJS.Timeout | null;
  /** Most recently used first. */
  #newest: Entry | null = null;
  #oldest: Entry | null = null;

  constructor(options: MemoryStoreOptions = {}) {
    const opts = expectObject(options, 'MemoryStore');
    rejectUnknownKeys(opts, ['maxKeys', 'sweepIntervalMs', 'clock'], 'MemoryStore');
    this.#maxKeys =
      opts.maxKeys === undefined ? 100_000 : expectInteger(opts.maxKeys, 'MemoryStore.maxKeys', 1);
    const sweepMs =
      opts.sweepIntervalMs === undefined
        ? 60_000
        : expectInteger(opts.sweepIntervalMs, 'MemoryStore.sweepIntervalMs', 1, 2_147_483_647);
    this.#clock =
      opts.clock === undefined ? Date.now : expectFunction<Clock>(opts.clock, 'MemoryStore.clock');
    this.#timer = setInterval(() => this.sweep(), sweepMs);
    this.#timer.unref();
  }

  /** How many client keys are tracked right now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Decides every policy for `key` at once; charges all of them or none.
   * Synchronous. Throws `TypeError` on a policy with an unknown algorithm.
   */
  consume(key: string, policies: readonly Policy[], cost: number): RateLimitDecision[] {
    const now = this.#clock();
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = new Entry(key);
      this.#entries.set(key, entry);
      this.#pushNewest(entry);
      if (this.#entries.size > this.#maxKeys) this.#evictOldest();
    } else if (entry !== this.#newest) {
      this.#unlink(entry);
      this.#pushNewest(entry);
    }

    const n = policies.length;
    const decisions: RateLimitDecision[] = new Array(n);
    let admitted = true;
    for (let i = 0; i < n; i++) {
      const policy = policies[i] as Policy;
      const decision = this.#decide(entry, policy, kindOf(policy), now, cost);
      decisions[i] = decision;
      if (!decision.allowed) admitted = false;
    }
    if (admitted) {
      for (let i = 0; i < n; i++) this.#charge(entry, policies[i] as Policy, now, cost);
    }
    return decisions;
  }

  #decide(
    entry: Entry,
    policy: Policy,
    kind: number,
    now: number,
    cost: number,
  ): RateLimitDecision {
    const { name, limit, windowMs } = policy;
    const state = findState(entry, name, kind);
    if (kind === TOKEN_BUCKET) {
      const level = state === null ? 0 : tokenBucketLevel(state.a, state.b, limit, now);
      return tokenBucketDecide(name, limit, windowMs, level, cost);
    }
    if (kind === FIXED_WINDOW) {
      const start = fixedWindowStart(now, windowMs);
      const count = state !== null && state.a === start ? state.b : 0;
      return fixedWindowDecide(name, limit, windowMs, start, count, now, cost);
    }
    const log = state?.log;
    if (log == null) return slidingWindowDecide(name, limit, windowMs, 0, 0, 0, now, cost);
    const live = log.trim(now - windowMs);
    const blocking = live + cost > limit && cost <= limit ? log.fromNewest(limit - cost) : 0;
    return slidingWindowDecide(name, limit, windowMs, live, log.newest(), blocking, now, cost);
  }

  #charge(entry: Entry, policy: Policy, now: number, cost: number): void {
    const { name, limit, windowMs } = policy;
    const kind = kindOf(policy);
    let state = findState(entry, name, kind);
    if (state === null) {
      state = new PolicyState(name, kind);
      state.next = entry.states;
      entry.states = state;
    }
    let expiresAt: number;
    if (kind === TOKEN_BUCKET) {
      const level = tokenBucketLevel(state.a, state.b, limit, now) + cost * windowMs;
      state.a = level;
      state.b = now;
      expiresAt = now + tokenBucketTtl(level, limit);
    } else if (kind === FIXED_WINDOW) {
      const start = fixedWindowStart(now, windowMs);
      state.b = state.a === start ? state.b + cost : cost;
      state.a = start;
      expiresAt = start + windowMs;
    } else {
      let log = state.log;
      if (log === null) {
        log = new SlidingLog();
        state.log = log;
      }
      log.record(now, cost);
      expiresAt = log.newest() + windowMs;
    }
    if (expiresAt > entry.expiresAt) entry.expiresAt = expiresAt;
  }

  /** Forgets `key` under every policy. */
  reset(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#unlink(entry);
  }

  /** Forgets every key whose state has fully expired; returns how many. Runs on a timer. */
  sweep(): number {
    const now = this.#clock();
    let removed = 0;
    let entry = this.#oldest;
    while (entry !== null) {
      const newer = entry.prev;
      if (entry.expiresAt <= now) {
        this.#entries.delete(entry.key);
        this.#unlink(entry);
        removed++;
      }
      entry = newer;
    }
    return removed;
  }

  /** Stops the sweep timer and forgets everything. */
  async close(): Promise<void> {
    if (this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
    this.#entries.clear();
    this.#newest = null;
    this.#oldest = null;
  }

  #pushNewest(entry: Entry): void {
    entry.prev = null;
    entry.next = this.#newest;
    if (this.#newest !== null) this.#newest.prev = entry;
    this.#newest = entry;
    if (this.#oldest === null) this.#oldest = entry;
  }

  #unlink(entry: Entry): void {
    const { prev, next } = entry;
    if (prev !== null) prev.next = next;
    else if (this.#newest === entry) this.#newest = next;
    if (next !== null) next.prev = prev;
    else if (this.#oldest === entry) this.#oldest = prev;
    entry.prev = null;
    entry.next = null;
  }

  #evictOldest(): void {
    const oldest = this.#oldest;
    if (oldest === null) return;
    this.#entries.delete(oldest.key);
    this.#unlink(oldest);
  }
}
