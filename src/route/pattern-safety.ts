import type { Token, TokenData } from 'path-to-regexp';

/**
 * Guards against route patterns whose regular expression would be a
 * denial-of-service lever (ReDoS): a request path is attacker-controlled and
 * up to ~16 KB long, and every request is matched against every route.
 *
 * The decision is a property of the pattern alone: it reads the parsed
 * tokens, never runs or times the expression, so a configuration is valid or
 * not the same way on every machine and under any load (SPEC §9).
 *
 * Why structure is enough. path-to-regexp 9 (`toRegExpSource`) builds, for
 * each flat sequence of tokens, an expression in which no two quantifiers can
 * trade the same characters back and forth:
 * - a param is `([^/]+)` — one segment, no `/` — when the text after it
 *   starts a new segment or ends the pattern; otherwise (more text of the same
 *   segment follows, then another param) it is an atomic lookahead
 *   `(?=([^/]+?)text)` consumed by a backreference `\n`, so once the shortest
 *   run before `text` is found it is never revisited; right after a wildcard
 *   it is `([^/x]+?|[^/x]*x)`, which cannot run past the text `x` that
 *   follows it. So each param scans at most its own segment, once per place
 *   the text before it can start;
 * - every wildcard but the last is locked the same way (`(?=([^]+?)…)\n`,
 *   the lookahead holding everything up to the next wildcard): only the last
 *   wildcard, `([^]+)`, can backtrack, over a tail that has no wildcard;
 * - there is no nesting of quantified groups and no inline regular
 *   expression: path-to-regexp 8+ refuses `(…)`, `?`, `+` and `*` modifiers.
 * One alternative therefore costs O(n · (c + 1)) steps on a path of n
 * characters with c params and wildcards. What stays to bound is how many
 * alternatives there are (each optional group `{…}` doubles them: path-to-regexp
 * tries them one after the other) and how many captures they hold, which is
 * what {@link PATTERN_LIMITS} caps. Even at the limits, a 16 KB hostile path
 * costs well under a millisecond (`test/unit/path-matcher.test.ts`).
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
  /** Params and wildcards in the pattern, each counted once. */
  maxCaptures: 32,
  /** Alternatives the optional groups expand into (each group doubles them). */
  maxAlternatives: 64,
  /**
   * Capture groups of the compiled expression: the params and wildcards of every
   * alternative, added up. The matching work is proportional to it.
   */
  maxCaptureGroups: 256,
} as const;

/**
 * Why a pattern is refused as unsafe, or `null`. Reads the structure only:
 * the pattern's length, its params and wildcards, the alternatives its
 * optional groups expand into and the capture groups of all of them.
 *
 * @example
 * checkPatternComplexity(parse('{/:a}{/:b}{/:c}{/:d}{/:e}{/:f}{/:g}'), p); // 'has optional groups that expand into 128 alternatives …'
 */
export function checkPatternComplexity(data: TokenData, pattern: string): string | null {
  if (pattern.length > PATTERN_LIMITS.maxLength) {
    return `is ${pattern.length} characters long (at most ${PATTERN_LIMITS.maxLength})`;
  }
  const captures = countCaptures(data.tokens);
  if (captures > PATTERN_LIMITS.maxCaptures) {
    return `has ${captures} params and wildcards (at most ${PATTERN_LIMITS.maxCaptures})`;
  }
  const { alternatives, groups } = countAlternatives(data.tokens);
  if (alternatives > PATTERN_LIMITS.maxAlternatives) {
    return `has optional groups that expand into ${alternatives} alternatives (at most ${PATTERN_LIMITS.maxAlternatives}); split it into several routes`;
  }
  if (groups > PATTERN_LIMITS.maxCaptureGroups) {
    return `compiles to ${groups} capture groups over its ${alternatives} alternatives (at most ${PATTERN_LIMITS.maxCaptureGroups}); use fewer optional groups around params, or split it into several routes`;
  }
  return null;
}

function countCaptures(tokens: readonly Token[]): number {
  let n = 0;
  for (const token of tokens) {
    if (token.type === 'param' || token.type === 'wildcard') n++;
    else if (token.type === 'group') n += countCaptures(token.tokens);
  }
  return n;
}

/** Bounds the products below: past it the pattern is refused anyway. */
const ENOUGH = 1_000_000;

/**
 * How many flat sequences the groups expand into (a group is "with or without"), and the
 * captures of all of them added up, as path-to-regexp's `flatten` produces them.
 */
function countAlternatives(tokens: readonly Token[]): { alternatives: number; groups: number } {
  let alternatives = 1;
  let groups = 0;
  for (const token of tokens) {
    if (token.type === 'param' || token.type === 'wildcard') {
      // Present in every alternative so far.
      groups += alternatives;
    } else if (token.type === 'group') {
      const inner = countAlternatives(token.tokens);
      // Without the group: the sequences so far; with it: each of them times each inner one.
      groups = groups * (1 + inner.alternatives) + alternatives * inner.groups;
      alternatives *= 1 + inner.alternatives;
    }
    // Stop early: the products can grow past any useful number.
    if (alternatives > ENOUGH || groups > ENOUGH) return { alternatives, groups };
  }
  return { alternatives, groups };
}
