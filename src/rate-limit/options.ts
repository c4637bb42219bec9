import { type Duration, parseDuration } from '../duration.js';
import { GatewayConfigError } from '../errors.js';
import {
  expectFunction,
  expectInteger,
  expectObject,
  expectOneOf,
  fieldPath,
  isPlainObject,
  rejectUnknownKeys,
} from '../options.js';
import {
  type Algorithm,
  assertRateLimitStore,
  type Clock,
  type RateLimitStore,
} from '../stores/types.js';
import type { GatewayEventListener, GatewayRequest } from '../types.js';
import { compilePolicySet, type HeadersMode, type PolicySet } from './headers.js';
import { ALGORITHMS, type PolicyOptions, rejectDuplicateNames, resolvePolicy } from './policy.js';

export type { HeadersMode } from './headers.js';
export type { PolicyOptions } from './policy.js';

/**
 * A function of the request. Declared as a method so a function typed with
 * Express's own `Request` is accepted too.
 *
 * @example
 * const key: RequestFunction<string> = (req) => String(req.headers['x-tenant']);
 */
export type RequestFunction<T> = { bivarianceHack(req: GatewayRequest): T }['bivarianceHack'];

/**
 * How a request's client is identified. Default: the principal id when authenticated, else `'ip'`.
 *
 * @example
 * rateLimit({ limit: 5, window: '1m', key: 'ip' });
 */
export type RateLimitKey = 'ip' | 'principal' | RequestFunction<string>;

/**
 * Options of `rateLimit()` (and of `rateLimit` in `createGateway` and its routes).
 *
 * @example
 * rateLimit({ limit: 5, window: '1m' });
 * rateLimit({ limits: [{ limit: 10, window: '1s', name: 'burst' }, { limit: 1000, window: '1d', name: 'daily' }] });
 */
export interface RateLimitOptions {
  /** Units (requests, or cost units) per window; the bucket's capacity. Required unless `limits` is given. */
  limit?: number;
  /** `'1s'`, `'1m'`, `'1h'`, `'1d'` or milliseconds. Required unless `limits` is given. */
  window?: Duration;
  /** Default `'token-bucket'`; also the default of every entry of `limits` and `plans`. */
  algorithm?: Algorithm;
  /** The policy's name: namespaces its counters, shown in headers. Default e.g. `'5-in-1m'`. */
  name?: string;
  /** Several policies at once, all-or-nothing; replaces `limit`/`window`/`name`. */
  limits?: PolicyOptions[];
  /** Default: the principal id when authenticated (and not anonymous), else `'ip'`. */
  key?: RateLimitKey;
  /** IPv6 clients are keyed by this prefix length. Default `56`; `false` = the whole address. */
  ipv6Subnet?: number | false;
  /** Units a request costs: a non-negative integer, or a function of the request. Default `1`. */
  cost?: number | RequestFunction<number>;
  /** Policies by `principal.plan`; a plan replaces the default policy for its principals. */
  plans?: Record<string, PolicyOptions | PolicyOptions[]>;
  /** Default: the gateway's store, else a bounded `MemoryStore` owned by this middleware. */
  store?: RateLimitStore;
  /** Default `'draft'` (IETF `RateLimit-Policy` + `RateLimit`); `'legacy'` = `X-RateLimit-*`. */
  headers?: HeadersMode;
  /** Requests for which it returns true are neither counted nor limited. */
  skip?: RequestFunction<boolean>;
  /** When the store fails: `'allow'` (default, fail open, event) or `'deny'` (503). */
  onStoreError?: 'allow' | 'deny';
  /** A store slower than this counts as failed. Default `'100ms'`. */
  storeTimeout?: Duration;
  /** Structured events (`ratelimit.*`, and `request.completed` for the requests it answers); for standalone use. */
  onEvent?: GatewayEventListener;
  /**
   * The clock `storeTimeout` is measured with, in milliseconds, monotonic. Default
   * `performance.now()`. Injectable for tests, like the stores' `clock`.
   */
  clock?: Clock;
}

/**
 * The options after validation: everything decided once.
 *
 * @example
 * const resolved = resolveRateLimitOptions({ limit: 5, window: '1m' }, 'rateLimit');
 */
export interface ResolvedRateLimitOptions {
  readonly defaultSet: PolicySet;
  readonly plans: ReadonlyMap<string, PolicySet> | null;
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
  /** Warnings to emit as `config.warning` events. */
  readonly warnings: ReadonlyArray<{ field: string; message: string }>;
}

const OPTION_KEYS = [
  'limit',
  'window',
  'algorithm',
  'name',
  'limits',
  'key',
  'ipv6Subnet',
  'cost',
  'plans',
  'store',
  'headers',
  'skip',
  'onStoreError',
  'storeTimeout',
  'onEvent',
  'clock',
] as const;

const HEADERS_MODES = ['draft', 'legacy', 'both'] as const;

/**
 * Validates `rateLimit` options once, synchronously. `field` is the path
 * prefix of the messages: `''` standalone, `'rateLimit'` or
 * `'routes[2].rateLimit'` in a gateway.
 *
 * @example
 * resolveRateLimitOptions({ limit: 5, window: '1m' }, 'routes[2].rateLimit').defaultSet.policyHeader;
 */
export function resolveRateLimitOptions(
  input: RateLimitOptions,
  field: string,
): ResolvedRateLimitOptions {
  const options = expectObject(input, field || 'options');
  rejectUnknownKeys(options, OPTION_KEYS, field);
  const at = (key: string): string => fieldPath(field, key);
  const warnings: Array<{ field: string; message: string }> = [];

  const algorithm: Algorithm =
    options.algorithm === undefined
      ? 'token-bucket'
      : expectOneOf(options.algorithm, ALGORITHMS, at('algorithm'));

  let defaultSet: PolicySet;
  if (options.limits !== undefined) {
    const limits = options.limits;
    if (!Array.isArray(limits) || limits.length === 0) {
      throw new GatewayConfigError(at('limits'), 'must be a non-empty array of { limit, window }');
    }
    const policies = limits.map((entry, i) =>
      resolvePolicy(entry, `${at('limits')}[${i}]`, algorithm),
    );
    rejectDuplicateNames(policies, at('limits'));
    defaultSet = compilePolicySet(policies);
    for (const key of ['limit', 'window', 'name'] as const) {
      if (options[key] !== undefined) {
        warnings.push({
          field: at(key),
          message: 'ignored: `limits` replaces limit, window and name',
        });
      }
    }
  } else {
    if (options.limit === undefined && options.window === undefined) {
      throw new GatewayConfigError(
        at('limit'),
        "is required: give limit and window (e.g. { limit: 5, window: '1m' }) or limits",
      );
    }
    defaultSet = compilePolicySet([resolvePolicy(options, field, algorithm, false)]);
  }

  let plans: Map<string, PolicySet> | null = null;
  if (options.plans !== undefined) {
    const plansField = at('plans');
    const record = expectObject(options.plans, plansField);
    plans = new Map();
    for (const [plan, value] of Object.entries(record)) {
      const planField = `${plansField}.${plan}`;
      let policies: ReturnType<typeof resolvePolicy>[];
      if (Array.isArray(value)) {
        if (value.length === 0) {
          throw new GatewayConfigError(
            planField,
            'must be a policy or a non-empty array of policies',
          );
        }
        policies = value.map((entry, i) => resolvePolicy(entry, `${planField}[${i}]`, algorithm));
      } else if (isPlainObject(value)) {
        policies = [resolvePolicy(value, planField, algorithm)];
      } else {
        throw new GatewayConfigError(planField, 'must be { limit, window } or an array of them');
      }
      rejectDuplicateNames(policies, planField);
      plans.set(plan, compilePolicySet(policies));
    }
  }

  let key: ResolvedRateLimitOptions['key'] = 'auto';
  if (options.key !== undefined) {
    if (typeof options.key === 'function') {
      key = options.key as RequestFunction<string>;
    } else {
      key = expectOneOf(options.key, ['ip', 'principal'] as const, at('key'));
    }
  }

  let ipv6Prefix = 56;
  if (options.ipv6Subnet === false) ipv6Prefix = 128;
  else if (options.ipv6Subnet !== undefined) {
    ipv6Prefix = expectInteger(options.ipv6Subnet, at('ipv6Subnet'), 1, 128);
  }

  let cost: number | RequestFunction<number> = 1;
  if (options.cost !== undefined) {
    if (typeof options.cost === 'function') cost = options.cost as RequestFunction<number>;
    else cost = expectInteger(options.cost, at('cost'), 0, 1_000_000_000);
  }

  const store =
    options.store === undefined ? undefined : assertRateLimitStore(options.store, at('store'));

  let headers: HeadersMode = 'draft';
  if (options.headers === false) headers = false;
  else if (options.headers !== undefined) {
    if (options.headers === true) {
      throw new GatewayConfigError(at('headers'), "must be 'draft', 'legacy', 'both' or false");
    }
    headers = expectOneOf(options.headers, HEADERS_MODES, at('headers'));
  }

  const skip =
    options.skip === undefined
      ? null
      : expectFunction<RequestFunction<boolean>>(options.skip, at('skip'));
  const onStoreError =
    options.onStoreError === undefined
      ? 'allow'
      : expectOneOf(options.onStoreError, ['allow', 'deny'] as const, at('onStoreError'));
  const storeTimeoutMs =
    options.storeTimeout === undefined
      ? 100
      : parseDuration(options.storeTimeout, at('storeTimeout'));
  if (storeTimeoutMs > 2_147_483_647) {
    throw new GatewayConfigError(at('storeTimeout'), 'must be at most 24 days');
  }
  const onEvent =
    options.onEvent === undefined
      ? undefined
      : expectFunction<GatewayEventListener>(options.onEvent, at('onEvent'));

  const clock =
    options.clock === undefined ? monotonicNow : expectFunction<Clock>(options.clock, at('clock'));

  return {
    defaultSet,
    plans,
    key,
    ipv6Prefix,
    cost,
    store,
    headers,
    skip,
    onStoreError,
    storeTimeoutMs,
    clock,
    onEvent,
    warnings,
  };
}

/** The default limiter clock (a wrapper: Node's `performance.now` needs its receiver). */
function monotonicNow(): number {
  return performance.now();
}
