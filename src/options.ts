import { GatewayConfigError } from './errors.js';

/**
 * Small assertions for option parsing. Each throws GatewayConfigError naming
 * the field, so every factory reports mistakes the same way.
 */

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function expectObject(value: unknown, field: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw new GatewayConfigError(field, 'must be an object');
  return value;
}

export function expectString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new GatewayConfigError(field, 'must be a non-empty string');
  }
  return value;
}

export function expectBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new GatewayConfigError(field, 'must be true or false');
  return value;
}

export function expectFunction<T extends Function>(value: unknown, field: string): T {
  if (typeof value !== 'function') throw new GatewayConfigError(field, 'must be a function');
  return value as T;
}

export function expectInteger(
  value: unknown,
  field: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new GatewayConfigError(field, `must be an integer ${range}`);
  }
  return value;
}

export function expectStringArray(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw new GatewayConfigError(field, 'must be an array of strings');
  return value.map((item, i) => expectString(item, `${field}[${i}]`));
}

export function expectOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  field: string,
): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new GatewayConfigError(
      field,
      `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`,
    );
  }
  return value as T;
}

/** Throws when `options` has a key that is not in `known`: a typo should not pass silently. */
export function rejectUnknownKeys(
  options: Record<string, unknown>,
  known: readonly string[],
  field: string,
): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const where = field ? `${field}.${key}` : key;
      throw new GatewayConfigError(where, `unknown option (known: ${known.join(', ')})`);
    }
  }
}

/** `a.b` or `b` when there is no parent path. */
export function fieldPath(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}
