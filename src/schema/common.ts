import * as z from 'zod';
import { withMeta } from './meta.js';
import { fail } from './parse.js';

/**
 * Small option schemas shared by every factory, each with the message the
 * README's tables promise (`must be true or false`, `must be an integer
 * between 1 and 128`, …).
 */

/**
 * A non-empty string. `message` replaces the default wording for every problem
 * but a missing value (`is required`).
 *
 * @example
 * const name = nonEmptyString().optional();
 */
export function nonEmptyString(message = 'must be a non-empty string'): z.ZodString {
  return z
    .string({ error: (issue) => (issue.input === undefined ? 'is required' : message) })
    .min(1, { error: message });
}

/**
 * An integer from `min` to `max` (inclusive).
 *
 * @example
 * const retries = integer(0, 10).default(0);
 */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): z.ZodNumber {
  const range =
    max === Number.MAX_SAFE_INTEGER
      ? `must be an integer >= ${min}`
      : `must be an integer between ${min} and ${max}`;
  return z
    .number({ error: (issue) => (issue.input === undefined ? 'is required' : range) })
    .int({ error: range })
    .min(min, { error: range })
    .max(max, { error: range });
}

/**
 * `true` or `false`.
 *
 * @example
 * const preserveHost = bool().default(false);
 */
export function bool(): z.ZodBoolean {
  return z.boolean({
    error: (issue) => (issue.input === undefined ? 'is required' : 'must be true or false'),
  });
}

/**
 * A plain object of anything but functions (`metadata`), deep-copied and frozen so that
 * neither the caller nor a request can change the configuration afterwards.
 *
 * @example
 * const metadata = frozenData().optional();
 */
export function frozenData(): z.ZodType<
  Readonly<Record<string, unknown>>,
  Record<string, unknown>
> {
  return z
    .record(z.string(), z.unknown(), { error: 'must be an object' })
    .transform((value, ctx) => {
      let copy: Record<string, unknown>;
      try {
        copy = structuredClone(value);
      } catch {
        fail(ctx, 'must be cloneable data (no functions)');
        return z.NEVER;
      }
      return deepFreeze(copy);
    });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/**
 * Scopes: RFC 6749 scope-tokens (printable ASCII without space, `"` or `\`). They end up in
 * quoted challenge parameters.
 *
 * @example
 * const scopes = scopeList().default([]);
 */
export function scopeList(): z.ZodArray<z.ZodString> {
  return z.array(
    nonEmptyString().regex(SCOPE_TOKEN, {
      error: "must be printable ASCII without spaces, '\"' or '\\' (e.g. 'orders:read')",
    }),
    { error: 'must be an array of strings' },
  );
}

const TOKEN_CHARS = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * An HTTP field name (RFC 9110 token), lower-cased.
 *
 * @example
 * const header = headerName().default('x-api-key');
 */
export function headerName(): z.ZodPipe<z.ZodString, z.ZodTransform<string, string>> {
  return nonEmptyString()
    .regex(TOKEN_CHARS, { error: "must be a valid HTTP header name (e.g. 'x-api-key')" })
    .transform((name) => name.toLowerCase());
}

/**
 * A realm that fits in a quoted-string without escaping: printable ASCII except `"` and `\`.
 *
 * @example
 * const realm = realmName().default('api');
 */
export function realmName(): z.ZodString {
  return nonEmptyString().regex(/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/, {
    error: "must be printable ASCII without '\"' or '\\' (e.g. 'api')",
  });
}

/**
 * A string, or a non-empty array of strings.
 *
 * @example
 * const issuer = stringOrList().optional();
 */
export function stringOrList() {
  return z.union(
    [
      nonEmptyString(),
      z
        .array(nonEmptyString())
        .min(1, { error: 'must be a string or a non-empty array of strings' }),
    ],
    { error: 'must be a string or a non-empty array of strings' },
  );
}

/**
 * Marks an option whose value may be a secret: messages show only its type and length.
 *
 * @example
 * const key = secret(nonEmptyString());
 */
export function secret<T extends z.ZodType>(schema: T): T {
  return withMeta(schema, { secret: true });
}
