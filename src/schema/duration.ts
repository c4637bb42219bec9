import * as z from 'zod';
import { withMeta } from './meta.js';
import { fail, warn } from './parse.js';

/** A duration: milliseconds as a number, or a string such as `'250ms'`, `'30s'`, `'1m'`, `'1h'`, `'1d'`. */
export type Duration = string | number;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;
const DURATION_MESSAGE =
  "must be a positive duration in milliseconds or a string such as '500ms', '30s', '1m', '1h', '1d'";

/**
 * The longest delay Node's timers keep (2^31 - 1 ms, about 24.8 days); a longer one fires at once.
 *
 * @example
 * duration({ maxMs: MAX_TIMER_MS, maxText: '24 days' });
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A duration option: `'30s'` or `30000` in, whole milliseconds out (rounded up).
 * `maxMs` bounds it (`maxText` says the bound in words); `allowZero` accepts a
 * bare `0`. A bare number under one second is almost always a unit mistake
 * (`window: 60` is 60 ms), so it gives a warning (see `warn`); write `'60ms'`
 * to mean milliseconds without one. `required` is the message for a missing
 * value. Problems carry `ERR_CONFIG_INVALID_DURATION`.
 *
 * @example
 * const timeout = duration({ maxMs: MAX_TIMER_MS, maxText: '24 days' }).prefault('30s');
 */
export function duration(
  options: { maxMs?: number; maxText?: string; allowZero?: boolean; required?: string } = {},
): z.ZodType<number, Duration> {
  const number = options.allowZero
    ? z.number({ error: DURATION_MESSAGE }).nonnegative({ error: DURATION_MESSAGE })
    : z.number({ error: DURATION_MESSAGE }).positive({ error: DURATION_MESSAGE });
  const input = z.union([z.string().regex(DURATION_PATTERN, { error: DURATION_MESSAGE }), number], {
    error: (issue) =>
      issue.input === undefined ? (options.required ?? 'is required') : DURATION_MESSAGE,
  });
  const schema = input.transform((value, ctx) => {
    const ms = toMilliseconds(value);
    if (!(ms > 0) && !(options.allowZero && value === 0)) {
      fail(ctx, DURATION_MESSAGE, { showInput: true });
      return z.NEVER;
    }
    if (options.maxMs !== undefined && ms > options.maxMs) {
      fail(ctx, `must be at most ${options.maxText ?? `${options.maxMs} ms`}`, { showInput: true });
      return z.NEVER;
    }
    if (typeof value === 'number' && value > 0 && value < 1000) {
      warn(
        ctx,
        `is ${value} ms as a bare number: did you mean '${value}s'? (write '${value}ms' to keep milliseconds without this warning)`,
      );
    }
    return ms;
  });
  return withMeta(schema, { code: 'ERR_CONFIG_INVALID_DURATION' });
}

function toMilliseconds(value: string | number): number {
  if (typeof value === 'number') return Math.ceil(value);
  const match = DURATION_PATTERN.exec(value) as RegExpExecArray;
  return Math.ceil(Number(match[1]) * (UNIT_MS[match[2] as string] as number));
}
