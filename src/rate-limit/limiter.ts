import type { ServerResponse } from 'node:http';
import { createEmitter, type EmitEvent, isListening } from '../events.js';
import type { InternalContext, Step } from '../pipeline.js';
import { gatewayContext } from '../request-id.js';
import type { ResolvedRateLimitOptions } from '../schema/rate-limit.js';
import { MemoryStore } from '../stores/memory-store.js';
import type { ChargeReceipt, RateLimitStore } from '../stores/types.js';
import type { GatewayContext, GatewayRequest, RateLimitDecision } from '../types.js';
import {
  compilePolicySet,
  type PolicySet,
  retryAfterSeconds,
  setRateLimitHeaders,
} from './headers.js';
import { clientAddress, ipKey } from './keys.js';

/**
 * A compiled rate limit: the gateway's Step for it, and what it owns.
 *
 * @example
 * const { step, close } = createLimiter(parseRateLimitOptions({ limit: 5, window: '1m' }).value, ctx);
 */
export interface Limiter {
  /** Sets `req.gateway.rateLimit` and the headers; answers 429/503 itself (returns false). */
  readonly step: Step;
  /**
   * The same limiter (same counters, same queue) as a step whose events name `routeName`: a
   * gateway's default policy is one limiter shared by several routes.
   */
  stepFor(routeName: string | undefined): Step;
  /** Closes the MemoryStore the limiter created itself (never a store it was given). */
  close(): Promise<void>;
}

/**
 * What the limiter needs from its host: the gateway's sinks, maybe a shared store and the route name.
 *
 * @example
 * createLimiter(options, 'routes[0].rateLimit', { ...ctx, store: shared, routeName: 'users' });
 */
export type LimiterContext = InternalContext & { store?: RateLimitStore; routeName?: string };

class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
  constructor() {
    super('timeout');
  }
}

/** A request waiting for an asynchronous store's decisions: a node of the limiter's queue. */
interface Waiting {
  readonly req: GatewayRequest;
  readonly res: ServerResponse;
  readonly gw: GatewayContext;
  readonly set: PolicySet;
  readonly routeName: string | undefined;
  /** What was asked of the store, to give the charge back if it answers too late. */
  readonly key: string;
  readonly cost: number;
  readonly receipt: ChargeReceipt | undefined;
  /**
   * `clock()` after which the store counts as failed; `Infinity` until the end of the
   * event-loop turn the request was asked in (see `stampDeadlines`).
   */
  deadline: number;
  readonly resolve: (go: boolean) => void;
  readonly reject: (err: unknown) => void;
  /** Answered: by the store or by the timeout, whichever came first. */
  settled: boolean;
  prev: Waiting | null;
  next: Waiting | null;
}

function isDecisionArray(value: unknown, length: number): value is RateLimitDecision[] {
  return Array.isArray(value) && value.length === length;
}

/**
 * Compiles parsed rate limit options (see `parseRateLimitOptions`) into a
 * {@link Limiter}. Everything that does not depend on the request is decided
 * here: the policies' header strings, the key and cost functions, the store.
 * Never throws: the options were validated when they were parsed.
 *
 * Store choice: `config.store`, else `ctx.store` (shared, not closed here),
 * else a `MemoryStore` this limiter owns and closes.
 *
 * @example
 * const limiter = createLimiter(parseRateLimitOptions({ limit: 5, window: '1m' }).value, { emit, sendProblem });
 * const ok = limiter.step(req, res); // true: go on; false: already answered 429
 */
export function createLimiter(config: ResolvedRateLimitOptions, ctx: LimiterContext): Limiter {
  const emit: EmitEvent = config.onEvent ? createEmitter(config.onEvent) : ctx.emit;
  const sendProblem = ctx.sendProblem;

  let owned: MemoryStore | null = null;
  let store: RateLimitStore;
  if (config.store) store = config.store;
  else if (ctx.store) store = ctx.store;
  else {
    owned = new MemoryStore();
    store = owned;
  }

  const defaultSet = compilePolicySet(config.policies);
  let plans: Map<string, PolicySet> | null = null;
  if (config.plans !== null) {
    plans = new Map();
    for (const [plan, policies] of config.plans) plans.set(plan, compilePolicySet(policies));
  }
  const { key, ipv6Prefix, cost, headers, skip, onStoreError, storeTimeoutMs, clock } = config;
  // A store that can give a charge back gets a receipt with each call (see `lateAnswer`); a
  // MemoryStore answers synchronously, so never late, and its calls need none.
  const refunds = typeof store.refund === 'function' && !(store instanceof MemoryStore);
  const keyFn = typeof key === 'function' ? key : null;
  const byPrincipal = key === 'auto' || key === 'principal';
  const costFn = typeof cost === 'function' ? cost : null;
  const fixedCost = typeof cost === 'number' ? cost : 1;

  function keyOf(req: GatewayRequest, gw: GatewayContext): string {
    if (keyFn !== null) {
      const value = keyFn(req);
      if (typeof value !== 'string' || value.length === 0) {
        throw new TypeError('rateLimit key function must return a non-empty string');
      }
      return `fn:${value}`;
    }
    if (byPrincipal) {
      const principal = gw.principal;
      // Namespaced by kind: a JWT `sub` never shares a budget with an API key `id` of the same text.
      if (principal !== undefined && principal.type !== 'anonymous') {
        return `${principal.type}:${principal.id}`;
      }
    }
    return ipKey(clientAddress(req), ipv6Prefix);
  }

  function policySetOf(gw: GatewayContext): PolicySet {
    if (plans !== null) {
      const plan = gw.principal?.plan;
      if (plan !== undefined) {
        const set = plans.get(plan);
        if (set !== undefined) return set;
      }
    }
    return defaultSet;
  }

  /** Headers, `req.gateway.rateLimit`, and the answer for a refused request. */
  function finish(
    req: GatewayRequest,
    res: ServerResponse,
    gw: GatewayContext,
    set: PolicySet,
    decisions: RateLimitDecision[],
    routeName: string | undefined,
  ): boolean {
    gw.rateLimit = decisions;
    setRateLimitHeaders(res, headers, set, decisions);
    let refused: string[] | null = null;
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i] as RateLimitDecision;
      if (d.allowed) continue;
      if (refused === null) refused = [d.policy];
      else refused.push(d.policy);
    }
    if (refused === null) return true;
    if (isListening(emit, 'ratelimit.refused')) {
      emit({
        type: 'ratelimit.refused',
        requestId: gw.requestId,
        policies: refused,
        ...(gw.principal && gw.principal.type !== 'anonymous'
          ? { consumerId: gw.principal.id }
          : {}),
        ...(routeName !== undefined ? { route: routeName } : {}),
      });
    }
    const names = refused.map((name) => `'${name}'`).join(', ');
    sendProblem(req, res, {
      code: 'rate_limited',
      detail: `Rate limit exceeded for ${refused.length === 1 ? 'policy' : 'policies'} ${names}.`,
      headers: { 'Retry-After': String(retryAfterSeconds(decisions)) },
      'violated-policies': refused,
    });
    return false;
  }

  function storeFailed(
    req: GatewayRequest,
    res: ServerResponse,
    gw: GatewayContext,
    err: unknown,
    routeName: string | undefined,
    set: PolicySet,
  ): boolean {
    if (isListening(emit, 'ratelimit.store_error')) {
      emit({
        type: 'ratelimit.store_error',
        requestId: gw.requestId,
        policies: set.policies.map((policy) => policy.name),
        action: onStoreError,
        error: err instanceof Error ? err.message : String(err),
        ...(routeName !== undefined ? { route: routeName } : {}),
      });
    }
    if (onStoreError === 'allow') return true;
    sendProblem(req, res, {
      code: 'service_unavailable',
      detail: 'The rate limit store is unavailable; try again later.',
    });
    return false;
  }

  // Requests waiting for an asynchronous store, in arrival order (a doubly linked list, so an
  // answered one leaves at once). They all wait `storeTimeoutMs`, so arrival order is deadline
  // order and one unref'd timer, armed for the oldest, times them all out (instead of a
  // setTimeout/clearTimeout per request).
  //
  // The timeout judges the store, not this process: a host busy for longer than `storeTimeout`
  // (a burst on a cold process, a GC pause, a descheduled core) must not turn answers that are
  // already on their way into failures, which with onStoreError 'allow' would admit more than
  // the limit. So a request's clock starts at the end of the event-loop turn it was asked in
  // (by then a store has sent it: RedisStore sends a lone decision at once and batches the rest
  // of a busy turn from setImmediate, so the clock never starts before the request was sent),
  // and a request whose time is up is failed only after one more I/O poll, which reads any
  // answer that arrived while the process was busy (timers run before the poll phase of the
  // same loop iteration).
  let oldest: Waiting | null = null;
  let newest: Waiting | null = null;
  /** The first request whose deadline is not stamped yet (all after it are unstamped too). */
  let unstamped: Waiting | null = null;
  let stampQueued = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  /** When a sweep found requests out of time; those are failed after the next I/O poll. */
  let expiredAt = -1;

  function unlink(w: Waiting): void {
    w.settled = true;
    if (w === unstamped) unstamped = w.next;
    if (w.prev === null) oldest = w.next;
    else w.prev.next = w.next;
    if (w.next === null) newest = w.prev;
    else w.next.prev = w.prev;
    w.prev = null;
    w.next = null;
  }

  function stampDeadlines(): void {
    stampQueued = false;
    const deadline = clock() + storeTimeoutMs;
    for (let w = unstamped; w !== null; w = w.next) w.deadline = deadline;
    unstamped = null;
    if (timer === null && expiredAt < 0) armTimer();
  }

  function armTimer(): void {
    if (oldest === null || oldest.deadline === Number.POSITIVE_INFINITY) return;
    const delay = Math.ceil(oldest.deadline - clock());
    timer = setTimeout(sweep, Math.max(delay, 1));
    timer.unref();
  }

  function sweep(): void {
    timer = null;
    const now = clock();
    if (oldest !== null && oldest.deadline <= now) {
      expiredAt = now;
      setImmediate(failExpired);
    } else {
      armTimer();
    }
  }

  function failExpired(): void {
    const cutoff = expiredAt;
    expiredAt = -1;
    while (oldest !== null && oldest.deadline <= cutoff) {
      const w = oldest;
      unlink(w);
      answerFailed(w, new StoreTimeoutError());
    }
    armTimer();
  }

  /** Answers a waiting request (already unlinked) as a store failure. */
  function answerFailed(w: Waiting, err: unknown): void {
    try {
      w.resolve(storeFailed(w.req, w.res, w.gw, err, w.routeName, w.set));
    } catch (thrown) {
      w.reject(thrown);
    }
  }

  /**
   * The store answered a request that was already answered as a store failure (past
   * `storeTimeout`). If that answer charged it, the charge is given back (SPEC §8): the
   * client was refused with 503, or let through uncounted, and must not pay for it later.
   * A failing refund is dropped: the store was failing anyway.
   */
  function lateAnswer(w: Waiting, decisions: RateLimitDecision[]): void {
    const receipt = w.receipt;
    if (receipt === undefined || w.cost === 0) return;
    if (!isDecisionArray(decisions, w.set.policies.length)) return;
    for (let i = 0; i < decisions.length; i++) {
      if ((decisions[i] as RateLimitDecision).allowed !== true) return; // refused: nothing charged
    }
    try {
      const done = store.refund?.(w.key, w.set.policies, w.cost, receipt);
      if (done != null && typeof (done as Promise<void>).then === 'function') {
        (done as Promise<void>).then(undefined, ignore);
      }
    } catch {
      // Dropped, as a rejection is.
    }
  }

  function decided(w: Waiting, decisions: RateLimitDecision[]): void {
    if (w.settled) {
      lateAnswer(w, decisions);
      return;
    }
    unlink(w);
    if (!isDecisionArray(decisions, w.set.policies.length)) {
      answerFailed(w, new Error('store returned no decision per policy'));
      return;
    }
    try {
      w.resolve(finish(w.req, w.res, w.gw, w.set, decisions, w.routeName));
    } catch (err) {
      w.reject(err);
    }
  }

  function failed(w: Waiting, err: unknown): void {
    if (w.settled) return;
    unlink(w);
    answerFailed(w, err);
  }

  function settle(
    req: GatewayRequest,
    res: ServerResponse,
    gw: GatewayContext,
    set: PolicySet,
    pending: Promise<RateLimitDecision[]>,
    routeName: string | undefined,
    clientKey: string,
    units: number,
    receipt: ChargeReceipt | undefined,
  ): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const w: Waiting = {
        req,
        res,
        gw,
        set,
        routeName,
        key: clientKey,
        cost: units,
        receipt,
        deadline: Number.POSITIVE_INFINITY,
        resolve,
        reject,
        settled: false,
        prev: newest,
        next: null,
      };
      if (newest === null) oldest = w;
      else newest.next = w;
      newest = w;
      if (unstamped === null) unstamped = w;
      if (!stampQueued) {
        stampQueued = true;
        setImmediate(stampDeadlines);
      }
      pending.then(
        (decisions) => decided(w, decisions),
        (err: unknown) => failed(w, err),
      );
    });
  }

  const stepFor = (routeName: string | undefined): Step =>
    function rateLimitStep(req, res) {
      const gw = gatewayContext(req, res);
      if (skip !== null && skip(req) === true) return true;
      const set = policySetOf(gw);
      const clientKey = keyOf(req, gw);
      let units = fixedCost;
      if (costFn !== null) {
        units = costFn(req);
        if (typeof units !== 'number' || !Number.isInteger(units) || units < 0) {
          throw new TypeError('rateLimit cost function must return a non-negative integer');
        }
      }
      let result: RateLimitDecision[] | Promise<RateLimitDecision[]>;
      const receipt: ChargeReceipt | undefined = refunds ? { value: undefined } : undefined;
      try {
        result = store.consume(clientKey, set.policies, units, receipt);
      } catch (err) {
        return storeFailed(req, res, gw, err, routeName, set);
      }
      if (Array.isArray(result)) {
        if (result.length !== set.policies.length) {
          return storeFailed(
            req,
            res,
            gw,
            new Error('store returned no decision per policy'),
            routeName,
            set,
          );
        }
        return finish(req, res, gw, set, result, routeName);
      }
      if (result === null || typeof result !== 'object' || typeof result.then !== 'function') {
        return storeFailed(
          req,
          res,
          gw,
          new Error('store returned neither decisions nor a promise'),
          routeName,
          set,
        );
      }
      return settle(req, res, gw, set, result, routeName, clientKey, units, receipt);
    };

  return {
    step: stepFor(ctx.routeName),
    stepFor,
    close: async () => {
      if (owned !== null) await owned.close();
    },
  };
}

function ignore(): void {}
