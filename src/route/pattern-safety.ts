import type { Token, TokenData } from 'path-to-regexp';
import { GatewayConfigError } from '../errors.js';

/**
 * Guards against route patterns whose regular expression would be a
 * denial-of-service lever (ReDoS): a request path is attacker-controlled and
 * up to ~16 KB long, and every request is matched against every route.
 *
 * path-to-regexp 8 builds expressions that do not backtrack badly (params
 * exclude the text around them), but it expands each optional group into
 * alternatives (2^groups of them, up to its own cap of 256) and any later
 * change of the dependency could bring a slow shape back. So two checks, both
 * at configuration time:
 * 1. {@link checkPatternComplexity}: structural limits, before compiling.
 * 2. {@link checkRegExpSpeed}: the compiled expression is run against
 *    adversarial inputs of growing length, stopping as soon as one is slow.
 */

/**
 * Limits of {@link checkPatternComplexity}; generous for real routes.
 *
 * @example
 * PATTERN_LIMITS.maxAlternatives; // 64: at most six independent optional groups
 */
export const PATTERN_LIMITS = {
  /** Characters in the pattern. */
  maxLength: 1024,
  /** Params and wildcards, counted over every optional group. */
  maxCaptures: 32,
  /** Alternatives the optional groups expand into (each group doubles them). */
  maxAlternatives: 64,
} as const;

/**
 * Refuses (`ERR_CONFIG_UNSAFE_PATTERN`) patterns that are too long, have too
 * many params, or so many optional groups that the expression would try
 * dozens of alternatives on every request.
 *
 * @example
 * checkPatternComplexity(parse('{/:a}{/:b}{/:c}{/:d}{/:e}{/:f}{/:g}'), p, 'routes[0].path'); // throws: 128 alternatives
 */
export function checkPatternComplexity(data: TokenData, pattern: string, field: string): void {
  if (pattern.length > PATTERN_LIMITS.maxLength) {
    throw unsafe(
      field,
      `is ${pattern.length} characters long (at most ${PATTERN_LIMITS.maxLength})`,
    );
  }
  const captures = countCaptures(data.tokens);
  if (captures > PATTERN_LIMITS.maxCaptures) {
    throw unsafe(
      field,
      `has ${captures} params and wildcards (at most ${PATTERN_LIMITS.maxCaptures})`,
    );
  }
  const alternatives = countAlternatives(data.tokens);
  if (alternatives > PATTERN_LIMITS.maxAlternatives) {
    throw unsafe(
      field,
      `has optional groups that expand into ${alternatives} alternatives (at most ${PATTERN_LIMITS.maxAlternatives}); split it into several routes`,
    );
  }
}

/** Slowest single match, in ms of CPU time, that {@link checkRegExpSpeed} accepts. */
const PROBE_BUDGET_MS = 50;

/**
 * Runs the compiled expression against adversarial inputs built from the
 * pattern's own literal text (repeated fragments with a failing tail), with
 * lengths growing in small steps first — so an exponential expression is
 * caught at a few dozen characters instead of hanging — then up to 4 KB,
 * where a quadratic one shows. Stops at the first input that takes more than
 * 50 ms of CPU time three times in a row and throws
 * `ERR_CONFIG_UNSAFE_PATTERN`. A safe pattern costs a millisecond or two of
 * CPU at startup, once per distinct expression in the process.
 *
 * @example
 * checkRegExpSpeed(/^\/(?:a|a)*$/, parse('/a'), '/a', 'routes[0].path'); // throws (exponential)
 */
export function checkRegExpSpeed(
  regexp: RegExp,
  data: TokenData,
  pattern: string,
  field: string,
): void {
  const key = `${regexp.flags}/${regexp.source}`;
  if (provenSafe.has(key)) return;
  const slowest = probeRegExp(regexp, literalFragments(data.tokens, []), PROBE_BUDGET_MS);
  if (slowest <= PROBE_BUDGET_MS) {
    // Bounded: a process that builds routes forever must not grow this forever.
    if (provenSafe.size >= PROVEN_SAFE_MAX) provenSafe.clear();
    provenSafe.add(key);
  } else {
    throw unsafe(
      field,
      `compiles to a regular expression that took ${Math.round(slowest)} ms of CPU time on a hostile path ('${pattern}')`,
    );
  }
}

/** Expressions already probed (several gateways, tests and restarts share patterns). */
const provenSafe = new Set<string>();
const PROVEN_SAFE_MAX = 1_000;

/** Input lengths of the probe: fine steps where exponential blow-ups show, then coarse. */
const PROBE_LENGTHS = [
  8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 36, 40, 44, 48, 64, 256, 4096,
];

/**
 * The slowest `regexp.exec` over the probe inputs, in ms; returns early once
 * one exceeds `budgetMs`. Exported for tests.
 *
 * @example
 * probeRegExp(/^\/(?:a|a)*$/, ['a'], 25); // > 25: exponential
 */
export function probeRegExp(
  regexp: RegExp,
  fragments: readonly string[],
  budgetMs: number,
): number {
  const units = new Set<string>(['a', 'a/', 'a-', 'a.']);
  for (const fragment of fragments) {
    units.add(fragment);
    units.add(`${fragment}a`);
  }
  if (fragments.length > 1) units.add(`${fragments.join('a')}a`);
  // Tails that make an otherwise matching input fail at the very end, forcing every backtrack.
  const tails = ['', '/', '\u0000'];
  let slowest = 0;
  for (const length of PROBE_LENGTHS) {
    for (const unit of units) {
      const body = `/${unit.repeat(Math.ceil(length / unit.length)).slice(0, length)}`;
      for (const tail of tails) {
        const elapsed = execCost(regexp, body + tail, budgetMs);
        if (elapsed > slowest) slowest = elapsed;
        if (slowest > budgetMs) return slowest;
      }
    }
  }
  return slowest;
}

/**
 * CPU time (not wall time, so a busy machine preempting us does not count) of
 * one `exec`, in ms. A run a little over budget is repeated twice and the fastest kept:
 * a GC pause or a helper thread is not the expression's fault, while a slow
 * expression is slow every time.
 */
function execCost(regexp: RegExp, input: string, budgetMs: number): number {
  let best = execCpuMs(regexp, input);
  // Far over budget is never noise: no need to pay for it three times.
  for (let attempt = 1; attempt < 3 && best > budgetMs && best < 4 * budgetMs; attempt++) {
    best = Math.min(best, execCpuMs(regexp, input));
  }
  return best;
}

function execCpuMs(regexp: RegExp, input: string): number {
  const started = process.cpuUsage();
  regexp.exec(input);
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1000;
}

function literalFragments(tokens: readonly Token[], out: string[]): string[] {
  for (const token of tokens) {
    if (token.type === 'text') {
      if (token.value.length > 0 && !out.includes(token.value)) out.push(token.value);
    } else if (token.type === 'group') literalFragments(token.tokens, out);
  }
  return out;
}

function countCaptures(tokens: readonly Token[]): number {
  let n = 0;
  for (const token of tokens) {
    if (token.type === 'param' || token.type === 'wildcard') n++;
    else if (token.type === 'group') n += countCaptures(token.tokens);
  }
  return n;
}

/** How many flat sequences the groups expand into (a group is "with or without"). */
function countAlternatives(tokens: readonly Token[]): number {
  let n = 1;
  for (const token of tokens) {
    if (token.type === 'group') {
      n *= 1 + countAlternatives(token.tokens);
      // Stop early: the product can grow past any useful number.
      if (n > 1_000_000) return n;
    }
  }
  return n;
}

function unsafe(field: string, problem: string): GatewayConfigError {
  return new GatewayConfigError(field, problem, 'ERR_CONFIG_UNSAFE_PATTERN');
}
