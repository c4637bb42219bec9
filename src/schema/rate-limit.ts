import * as z from 'zod';
import type { HeadersMode } from '../rate-limit/headers.js';
import { defaultPolicyName, policyNameProblem } from '../rate-limit/policy.js';
import type { Algorithm, Clock, Policy, RateLimitStore } from '../stores/types.js';
import type { GatewayEventListener, GatewayRequest } from '../types.js';
import { integer } from './common.js';
import { duration, MAX_TIMER_MS } from './duration.js';
import { codeOnly } from './meta.js';
import { fail, type Parsed, parseOptions, STANDALONE, warn } from './parse.js';
import { rateLimitStore } from './stores.js';

export type { HeadersMode } from '../rate-limit/headers.js';

/**
 * A function of the request. Declared as a method so a function typed with
 * Express's own `Request` is accepted too.
 *
 * @example
 * const key: RequestFunction<string> = (req) => String(req.headers['x-tenant']);
 */
export type RequestFunction<T> = { bivarianceHack(req: GatewayRequest): T }['bivarianceHack'];

const ALGORITHMS = [
  'token-bucket',
  'fixed-window',
  'sliding-window',
] as const satisfies readonly Algorithm[];
const MAX_LIMIT = 1_000_000_000;
const MAX_WINDOW_MS = 366 * 86_400_000;
/** Token-bucket state is counted in unit·ms; keep it (and a cost on top) exact in a double. */
const MAX_CAPACITY = 2 ** 51;

const algorithm = z.enum(ALGORITHMS);

const policyName = z
  .string({ error: "must be a string of 1 to 64 characters, e.g. 'burst'" })
  .check((ctx) => {
    const problem = policyNameProblem(ctx.value);
    if (problem !== null) fail(ctx, problem);
  });

const windowDuration = () =>
  duration({
    maxMs: MAX_WINDOW_MS,
    maxText: '366 days',
    required: "is required, e.g. '1m' or 60000",
  });

/**
 * A policy of `limits` or `plans` as parsed, before the middleware's default algorithm is applied.
 *
 * @example
 * const p: PartialPolicy = { name: '5-in-1m', limit: 5, windowMs: 60_000, algorithm: undefined };
 */
export interface PartialPolicy {
  name: string;
  limit: number;
  windowMs: number;
  algorithm: Algorithm | undefined;
}

/** `limit × window` must stay exact in a double (token buckets count unit·ms). */
function capacityProblem(limit: number, windowMs: number): string | null {
  return limit * windowMs > MAX_CAPACITY
    ? `limit × window is too large to count exactly (at most ${MAX_CAPACITY} unit·ms); use a shorter window`
    : null;
}

/**
 * One `{ limit, window, algorithm?, name? }` of `limits` or `plans`.
 *
 * @example
 * policyOptions.parse({ limit: 5, window: '1m' }); // { name: '5-in-1m', limit: 5, windowMs: 60000, algorithm: undefined }
 */
export const policyOptions = z
  .strictObject({
    /** Units (requests, or cost units) per window: a positive integer. */
    limit: integer(1, MAX_LIMIT),
    /** `'1s'`, `'1m'`, `'1h'`, `'1d'` or milliseconds. */
    window: windowDuration(),
    /** Default: the middleware's `algorithm`, itself `'token-bucket'` by default. */
    algorithm: algorithm.optional(),
    /** Default e.g. `'5-in-1m'`. */
    name: policyName.optional(),
  })
  .transform((options, ctx): PartialPolicy => {
    const problem = capacityProblem(options.limit, options.window);
    if (problem !== null) {
      fail(ctx, problem, { path: ['limit'] });
      return z.NEVER;
    }
    return {
      name: options.name ?? defaultPolicyName(options.limit, options.window),
      limit: options.limit,
      windowMs: options.window,
      algorithm: options.algorithm,
    };
  });

/**
 * The part of a policy the user writes: `{ limit, window, algorithm?, name? }`.
 *
 * @example
 * const daily: PolicyOptions = { limit: 1000, window: '1d', algorithm: 'fixed-window', name: 'daily' };
 */
export type PolicyOptions = z.input<typeof policyOptions>;

const PLAN_MESSAGE = 'must be { limit, window } or an array of them';

/** Refuses two policies applied together under one name: they would share counters. */
function duplicateNameProblem(policies: readonly PartialPolicy[]): string | null {
  const seen = new Set<string>();
  for (const policy of policies) {
    if (seen.has(policy.name)) {
      return `two policies are named '${policy.name}'; give each a distinct name (policies with one name share counters)`;
    }
    seen.add(policy.name);
  }
  return null;
}

const rateLimitShape = {
  /** Units (requests, or cost units) per window; the bucket's capacity. Required unless `limits` is given. */
  limit: integer(1, MAX_LIMIT).optional(),
  /** `'1s'`, `'1m'`, `'1h'`, `'1d'` or milliseconds. Required unless `limits` is given. */
  window: windowDuration().optional(),
  /** Default `'token-bucket'`; also the default of every entry of `limits` and `plans`. */
  algorithm: algorithm.default('token-bucket'),
  /** The policy's name: namespaces its counters, shown in headers. Default e.g. `'5-in-1m'`. */
  name: policyName.optional(),
  /** Several policies at once, all-or-nothing; replaces `limit`/`window`/`name`. */
  limits: z
    .array(policyOptions, { error: 'must be a non-empty array of { limit, window }' })
    .min(1, { error: 'must be a non-empty array of { limit, window }' })
    .optional(),
  /** Default: the principal id when authenticated (and not anonymous), else `'ip'`. */
  key: z
    .union([z.enum(['ip', 'principal']), codeOnly<RequestFunction<string>>()], {
      error: "must be 'ip', 'principal' or a function (req) => string",
    })
    .optional(),
  /** IPv6 clients are keyed by this prefix length. Default `56`; `false` = the whole address. */
  ipv6Subnet: z
    .union([integer(1, 128), z.literal(false)], {
      error: 'must be an integer between 1 and 128, or false',
    })
    .default(56),
  /** Units a request costs: a non-negative integer, or a function of the request. Default `1`. */
  cost: z
    .union([integer(0, MAX_LIMIT), codeOnly<RequestFunction<number>>()], {
      error: `must be an integer between 0 and ${MAX_LIMIT}, or a function (req) => number`,
    })
    .default(1),
  /** Policies by `principal.plan`; a plan replaces the default policy for its principals. */
  plans: z
    .record(
      z.string(),
      z.union(
        [
          policyOptions,
          z
            .array(policyOptions)
            .min(1, { error: 'must be a policy or a non-empty array of policies' }),
        ],
        { error: PLAN_MESSAGE },
      ),
      { error: 'must be an object of plan names to policies' },
    )
    .optional(),
  /** Default: the gateway's store, else a bounded `MemoryStore` owned by this middleware. */
  store: rateLimitStore.optional(),
  /** Default `'draft'` (IETF `RateLimit-Policy` + `RateLimit`); `'legacy'` = `X-RateLimit-*`. */
  headers: z
    .union([z.enum(['draft', 'legacy', 'both']), z.literal(false)], {
      error: "must be one of 'draft', 'legacy', 'both', or false",
    })
    .default('draft'),
  /** Requests for which it returns true are neither counted nor limited. */
  skip: codeOnly<RequestFunction<boolean>>().optional(),
  /** When the store fails: `'allow'` (default, fail open, event) or `'deny'` (503). */
  onStoreError: z.enum(['allow', 'deny']).default('allow'),
  /** A store slower than this counts as failed. Default `'100ms'`. */
  storeTimeout: duration({ maxMs: MAX_TIMER_MS, maxText: '24 days' }).prefault('100ms'),
  /** Structured events (`ratelimit.*`, and `request.completed` for the requests it answers); for standalone use. */
  onEvent: codeOnly<GatewayEventListener>().optional(),
  /**
   * The clock `storeTimeout` is measured with, in milliseconds, monotonic. Default
   * `performance.now()`. Injectable for tests, like the stores' `clock`.
   */
  clock: codeOnly<Clock>().optional(),
};

/**
 * The options of `rateLimit()`, and of `rateLimit` in `createGateway` and its routes; parses
 * into {@link ResolvedRateLimitOptions}.
 *
 * @example
 * parseRateLimitOptions({ limit: 5, window: '1m' }).value.policies[0].name; // '5-in-1m'
 */
export const rateLimitOptions = z
  .strictObject(rateLimitShape)
  .check((ctx) => {
    const options = ctx.value;
    if (options.limits === undefined) return;
    for (const key of ['limit', 'window', 'name'] as const) {
      if (options[key] !== undefined) {
        warn(ctx, 'ignored: `limits` replaces limit, window and name', [key]);
      }
    }
  })
  .transform((options, ctx): ResolvedRateLimitOptions | typeof z.NEVER => {
    const withAlgorithm = (policy: PartialPolicy): Policy =>
      Object.freeze({
        name: policy.name,
        limit: policy.limit,
        windowMs: policy.windowMs,
        algorithm: policy.algorithm ?? options.algorithm,
      });
    let policies: Policy[];
    if (options.limits !== undefined) {
      const duplicate = duplicateNameProblem(options.limits);
      if (duplicate !== null) {
        fail(ctx, duplicate, { path: ['limits'] });
        return z.NEVER;
      }
      policies = options.limits.map(withAlgorithm);
    } else {
      const { limit, window } = options;
      if (limit === undefined || window === undefined) {
        if (limit === undefined && window === undefined) {
          fail(
            ctx,
            "is required: give limit and window (e.g. { limit: 5, window: '1m' }) or limits",
            {
              path: ['limit'],
            },
          );
        } else if (limit === undefined) {
          fail(ctx, 'is required (a positive integer)', { path: ['limit'] });
        } else {
          fail(ctx, "is required, e.g. '1m' or 60000", { path: ['window'] });
        }
        return z.NEVER;
      }
      const capacity = capacityProblem(limit, window);
      if (capacity !== null) {
        fail(ctx, capacity, { path: ['limit'] });
        return z.NEVER;
      }
      const name = options.name ?? defaultPolicyName(limit, window);
      policies = [withAlgorithm({ name, limit, windowMs: window, algorithm: undefined })];
    }
    let plans: Map<string, readonly Policy[]> | null = null;
    if (options.plans !== undefined) {
      plans = new Map();
      for (const [plan, value] of Object.entries(options.plans)) {
        const list = Array.isArray(value) ? value : [value];
        const duplicate = duplicateNameProblem(list);
        if (duplicate !== null) {
          fail(ctx, duplicate, { path: ['plans', plan] });
          return z.NEVER;
        }
        plans.set(plan, Object.freeze(list.map(withAlgorithm)));
      }
    }
    const key = options.key ?? 'auto';
    return {
      policies: Object.freeze(policies),
      plans,
      key,
      ipv6Prefix: options.ipv6Subnet === false ? 128 : options.ipv6Subnet,
      cost: options.cost,
      store: options.store,
      headers: options.headers,
      skip: options.skip ?? null,
      onStoreError: options.onStoreError,
      storeTimeoutMs: options.storeTimeout,
      clock: options.clock ?? monotonicNow,
      onEvent: options.onEvent,
    };
  });

/** The default limiter clock (a wrapper: Node's `performance.now` needs its receiver). */
function monotonicNow(): number {
  return performance.now();
}

/**
 * How a request's client is identified. Default: the principal id when authenticated, else `'ip'`.
 *
 * @example
 * rateLimit({ limit: 5, window: '1m', key: 'ip' });
 */
export type RateLimitKey = 'ip' | 'principal' | RequestFunction<string>;

/**
 * Options of `rateLimit()` (and of `rateLimit` in `createGateway` and its routes).
 * Defaults: `algorithm` `'token-bucket'`, key = principal id when authenticated
 * else `req.ip` (IPv6 by /56), `cost` 1, `headers` `'draft'`, a bounded
 * `MemoryStore`, `onStoreError` `'allow'`, `storeTimeout` `'100ms'`.
 *
 * @example
 * rateLimit({ limit: 5, window: '1m' });
 * rateLimit({ limits: [{ limit: 10, window: '1s', name: 'burst' }, { limit: 1000, window: '1d', name: 'daily' }] });
 */
export type RateLimitOptions = z.input<typeof rateLimitOptions>;

/**
 * The options after parsing: every default applied, the policies resolved (names,
 * windows in ms, algorithms), plans by name. What `createLimiter` compiles.
 *
 * @example
 * const resolved: ResolvedRateLimitOptions = parseRateLimitOptions({ limit: 5, window: '1m' }).value;
 */
export interface ResolvedRateLimitOptions {
  readonly policies: readonly Policy[];
  readonly plans: ReadonlyMap<string, readonly Policy[]> | null;
  readonly key: 'auto' | 'ip' | 'principal' | RequestFunction<string>;
  /** IPv6 prefix length; 128 for the whole address. */
  readonly ipv6Prefix: number;
  readonly cost: number | RequestFunction<number>;
  readonly store: RateLimitStore | undefined;
  readonly headers: HeadersMode;
  readonly skip: RequestFunction<boolean> | null;
  readonly onStoreError: 'allow' | 'deny';
  readonly storeTimeoutMs: number;
  readonly clock: Clock;
  readonly onEvent: GatewayEventListener | undefined;
}

/**
 * Parses standalone `rateLimit()` options (paths without a prefix): the resolved options
 * and the warnings to emit. Throws `GatewayConfigError`.
 *
 * @example
 * const { value, warnings } = parseRateLimitOptions({ limit: 5, window: 60 }); // warns: 60 ms?
 */
export function parseRateLimitOptions(input: unknown): Parsed<ResolvedRateLimitOptions> {
  return parseOptions(rateLimitOptions, input, STANDALONE);
}
