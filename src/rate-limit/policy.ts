/** Longest policy name: names go into headers and store keys. */
const MAX_NAME_LENGTH = 64;

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
 * without `"`, `\\`, `{` or `}`. Returns why a name is refused, or `null`.
 *
 * @example
 * policyNameProblem('per-minute'); // null
 */
export function policyNameProblem(value: string): string | null {
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) {
    return `must be a string of 1 to ${MAX_NAME_LENGTH} characters, e.g. 'burst'`;
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c || c === 0x7b || c === 0x7d) {
      return `must be printable ASCII without '"', '\\', '{' or '}' (got ${JSON.stringify(value)}), e.g. 'per-minute'`;
    }
  }
  return null;
}
