import type { ServerResponse } from 'node:http';
import type { Policy } from '../stores/types.js';
import type { RateLimitDecision } from '../types.js';

/**
 * Which rate limit headers a middleware sends. Default `'draft'`.
 *
 * @example
 * rateLimit({ limit: 5, window: '1m', headers: 'both' });
 */
export type HeadersMode = 'draft' | 'legacy' | 'both' | false;

/**
 * Everything about a set of policies applied together that can be written
 * before any request: the `RateLimit-Policy` value and each policy's
 * `RateLimit` member prefix (draft-ietf-httpapi-ratelimit-headers-11).
 *
 * @example
 * const set: PolicySet = compilePolicySet([policy]); // set.policyHeader === '"5-in-1m";q=5;w=60'
 */
export interface PolicySet {
  readonly policies: readonly Policy[];
  /** e.g. `"5-in-1m";q=5;w=60, "100-in-1d";q=100;w=86400` */
  readonly policyHeader: string;
  /** e.g. `"5-in-1m";r=` per policy, to which `remaining;t=seconds` is appended. */
  readonly memberPrefixes: readonly string[];
}

/**
 * Whole seconds, rounded up.
 *
 * @example
 * ceilSeconds(12_001); // 13
 */
export function ceilSeconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

/**
 * Precomputes the header strings of a policy set.
 *
 * @example
 * compilePolicySet([{ name: '5-in-1m', limit: 5, windowMs: 60_000, algorithm: 'token-bucket' }]);
 */
export function compilePolicySet(policies: readonly Policy[]): PolicySet {
  const members: string[] = [];
  const prefixes: string[] = [];
  for (const policy of policies) {
    // Names are validated to need no escaping inside a Structured-Field string.
    members.push(`"${policy.name}";q=${policy.limit};w=${ceilSeconds(policy.windowMs)}`);
    prefixes.push(`"${policy.name}";r=`);
  }
  return Object.freeze({
    policies: Object.freeze([...policies]),
    policyHeader: members.join(', '),
    memberPrefixes: Object.freeze(prefixes),
  });
}

/**
 * `RateLimit: "5-in-1m";r=4;t=60`, one list member per policy, `t` rounded up.
 *
 * @example
 * rateLimitHeader(set, decisions); // '"5-in-1m";r=4;t=12'
 */
export function rateLimitHeader(set: PolicySet, decisions: readonly RateLimitDecision[]): string {
  const prefixes = set.memberPrefixes;
  let value = '';
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i] as RateLimitDecision;
    const member = `${prefixes[i] ?? `"${d.policy}";r=`}${d.remaining};t=${ceilSeconds(d.resetMs)}`;
    value = i === 0 ? member : `${value}, ${member}`;
  }
  return value;
}

/**
 * The policy the legacy `X-RateLimit-*` headers describe when several apply:
 * the one with the fewest units left (then the latest reset).
 *
 * @example
 * mostRestrictive(decisions).policy; // the one with the fewest units left
 */
export function mostRestrictive(decisions: readonly RateLimitDecision[]): RateLimitDecision {
  let chosen = decisions[0] as RateLimitDecision;
  for (let i = 1; i < decisions.length; i++) {
    const d = decisions[i] as RateLimitDecision;
    if (
      d.remaining < chosen.remaining ||
      (d.remaining === chosen.remaining && d.resetMs > chosen.resetMs)
    ) {
      chosen = d;
    }
  }
  return chosen;
}

/**
 * Writes the headers of `mode` for a request's decisions.
 *
 * @example
 * setRateLimitHeaders(res, 'draft', set, decisions);
 */
export function setRateLimitHeaders(
  res: ServerResponse,
  mode: HeadersMode,
  set: PolicySet,
  decisions: readonly RateLimitDecision[],
): void {
  if (mode === false || decisions.length === 0) return;
  if (mode !== 'legacy') {
    res.setHeader('RateLimit-Policy', set.policyHeader);
    res.setHeader('RateLimit', rateLimitHeader(set, decisions));
  }
  if (mode !== 'draft') {
    const d = mostRestrictive(decisions);
    res.setHeader('X-RateLimit-Limit', String(d.limit));
    res.setHeader('X-RateLimit-Remaining', String(d.remaining));
    // Unix time in seconds, rounded up (as express-rate-limit and GitHub send it).
    res.setHeader('X-RateLimit-Reset', String(Math.ceil((Date.now() + d.resetMs) / 1000)));
  }
}

/**
 * `Retry-After` for a refused request: the latest moment any refusing policy
 * admits again, in whole seconds rounded up (at least 1), so a client that
 * waits that long is never refused for the same reason.
 *
 * @example
 * retryAfterSeconds([{ ...decision, allowed: false, retryAfterMs: 11_200 }]); // 12
 */
export function retryAfterSeconds(decisions: readonly RateLimitDecision[]): number {
  let ms = 0;
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i] as RateLimitDecision;
    if (!d.allowed && d.retryAfterMs > ms) ms = d.retryAfterMs;
  }
  const seconds = Math.ceil(ms / 1000);
  return Math.max(seconds, 1);
}
