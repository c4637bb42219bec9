import { GatewayConfigError } from './errors.js';

/** A duration: milliseconds as a number, or a string such as `'250ms'`, `'30s'`, `'1m'`, `'1h'`, `'1d'`. */
export type Duration = string | number;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/**
 * Parses a duration option once, at construction, into whole milliseconds.
 * Throws {@link GatewayConfigError} naming `field` when the value is not a
 * positive finite duration.
 */
export function parseDuration(value: unknown, field: string): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const match = DURATION_PATTERN.exec(value.trim());
    if (!match) throw invalid(field, value);
    ms = Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  } else {
    throw invalid(field, value);
  }
  if (!Number.isFinite(ms) || ms <= 0) throw invalid(field, value);
  return Math.ceil(ms);
}

function invalid(field: string, value: unknown): GatewayConfigError {
  const shown = typeof value === 'string' ? `'${value}'` : String(value);
  return new GatewayConfigError(
    field,
    `must be a positive duration in milliseconds or a string such as '500ms', '30s', '1m', '1h', '1d' (got ${shown})`,
    'ERR_CONFIG_INVALID_DURATION',
  );
}
