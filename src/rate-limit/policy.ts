import { parseDuration } from '../duration.js';
import { GatewayConfigError } from '../errors.js';
import {
  expectInteger,
  expectObject,
  expectOneOf,
  fieldPath,
  rejectUnknownKeys,
} from '../options.js';
import type { Algorithm, Policy } from '../stores/types.js';

/**
 * The algorithms, in the order the docs list them.
 *
 * @example
 * ALGORITHMS.includes('fixed-window'); // true
 */
export const ALGORITHMS: readonly Algorithm[] = ['token-bucket', 'fixed-window', 'sliding-window'];

const POLICY_KEYS = ['limit', 'window', 'algorithm', 'name'] as const;
const MAX_NAME_LENGTH = 64;
const MAX_WINDOW_MS = 366 * 86_400_000;
/** Token-bucket state is counted in unit·ms; keep it (and a cost on top) exact in a double. */
const MAX_CAPACITY = 2 ** 51;

const UNITS: ReadonlyArray<readonly [number, string]> = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'm'],
  [1_000, 's'],
];

/**
 * `60_000` → `'1m'`, `1_500` → `'1500ms'`: the largest unit that divides the window evenly.
 *
 * @example
 * windowLabel(3_600_000); // '1h'
 */
export function windowLabel(windowMs: number): string {
  for (const [ms, unit] of UNITS) {
    if (windowMs % ms === 0) return `${windowMs / ms}${unit}`;
  }
  return `${windowMs}ms`;
}

/**
 * The default policy name, e.g. `'5-in-1m'`.
 *
 * @example
 * defaultPolicyName(5, 60_000); // '5-in-1m'
 */
export function defaultPolicyName(limit: number, windowMs: number): string {
  return `${limit}-in-${windowLabel(windowMs)}`;
}

/**
 * Policy names are shown as Structured-Field strings in `RateLimit` headers
 * and become part of store keys, so they are 1–64 printable ASCII characters
 * without `"`, `\`, `{` or `}`.
 *
 * @example
 * validatePolicyName('per-minute', 'rateLimit.name');
 */
export function validatePolicyName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new GatewayConfigError(
      field,
      `must be a string of 1 to ${MAX_NAME_LENGTH} characters, e.g. 'burst'`,
    );
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c || c === 0x7b || c === 0x7d) {
      throw new GatewayConfigError(
        field,
        `must be printable ASCII without '"', '\\', '{' or '}' (got ${JSON.stringify(value)}), e.g. 'per-minute'`,
      );
    }
  }
  return value;
}

/**
 * The part of a policy the user writes: `{ limit, window, algorithm?, name? }`.
 *
 * @example
 * const daily: PolicyOptions = { limit: 1000, window: '1d', algorithm: 'fixed-window', name: 'daily' };
 */
export interface PolicyOptions {
  /** Units (requests, or cost units) per window: a positive integer. */
  limit: number;
  /** `'1s'`, `'1m'`, `'1h'`, `'1d'` or milliseconds. */
  window: string | number;
  /** Default: the middleware's `algorithm`, itself `'token-bucket'` by default. */
  algorithm?: Algorithm;
  /** Default e.g. `'5-in-1m'`. */
  name?: string;
}

/**
 * Validates one `{ limit, window, algorithm?, name? }` and returns a frozen
 * {@link Policy}. With `checkKeys` false the object may carry other options
 * (the middleware's top level reads its own policy this way).
 *
 * @example
 * resolvePolicy({ limit: 5, window: '1m' }, 'rateLimit.limits[0]', 'token-bucket');
 */
export function resolvePolicy(
  value: unknown,
  field: string,
  defaultAlgorithm: Algorithm,
  checkKeys = true,
): Policy {
  const options = expectObject(value, field || 'options');
  if (checkKeys) rejectUnknownKeys(options, POLICY_KEYS, field);
  const at = (key: string): string => fieldPath(field, key);
  if (options.limit === undefined) {
    throw new GatewayConfigError(at('limit'), 'is required (a positive integer)');
  }
  const limit = expectInteger(options.limit, at('limit'), 1, 1_000_000_000);
  if (options.window === undefined) {
    throw new GatewayConfigError(at('window'), "is required, e.g. '1m' or 60000");
  }
  const windowMs = parseDuration(options.window, at('window'));
  if (windowMs > MAX_WINDOW_MS)
    throw new GatewayConfigError(at('window'), 'must be at most 366 days');
  if (limit * windowMs > MAX_CAPACITY) {
    throw new GatewayConfigError(
      at('limit'),
      `limit × window is too large to count exactly (at most ${MAX_CAPACITY} unit·ms); use a shorter window`,
    );
  }
  const algorithm =
    options.algorithm === undefined
      ? defaultAlgorithm
      : expectOneOf(options.algorithm, ALGORITHMS, at('algorithm'));
  const name =
    options.name === undefined
      ? defaultPolicyName(limit, windowMs)
      : validatePolicyName(options.name, at('name'));
  return Object.freeze({ name, limit, windowMs, algorithm });
}

/**
 * Throws when two policies applied together share a name (they would share counters).
 *
 * @example
 * rejectDuplicateNames(policies, 'rateLimit.limits');
 */
export function rejectDuplicateNames(policies: readonly Policy[], field: string): void {
  const seen = new Set<string>();
  for (const policy of policies) {
    if (seen.has(policy.name)) {
      throw new GatewayConfigError(
        field,
        `two policies are named '${policy.name}'; give each a distinct name (policies with one name share counters)`,
      );
    }
    seen.add(policy.name);
  }
}
