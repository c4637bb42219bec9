import { describe, expect, it } from 'vitest';
import {
  compilePolicySet,
  mostRestrictive,
  rateLimitHeader,
  retryAfterSeconds,
} from '../../src/rate-limit/headers.js';
import type { Policy } from '../../src/stores/types.js';
import type { RateLimitDecision } from '../../src/types.js';

const p5: Policy = { name: '5-in-1m', limit: 5, windowMs: 60_000, algorithm: 'token-bucket' };
const daily: Policy = {
  name: 'daily',
  limit: 1000,
  windowMs: 86_400_000,
  algorithm: 'fixed-window',
};

function decision(over: Partial<RateLimitDecision>): RateLimitDecision {
  return {
    policy: '5-in-1m',
    allowed: true,
    limit: 5,
    remaining: 4,
    resetMs: 60_000,
    retryAfterMs: 0,
    ...over,
  };
}

describe('draft-11 header values', () => {
  it('RateLimit-Policy is a list of named items with q and w (seconds)', () => {
    expect(compilePolicySet([p5]).policyHeader).toBe('"5-in-1m";q=5;w=60');
    expect(compilePolicySet([p5, daily]).policyHeader).toBe(
      '"5-in-1m";q=5;w=60, "daily";q=1000;w=86400',
    );
    expect(compilePolicySet([{ ...p5, windowMs: 1_500 }]).policyHeader).toBe('"5-in-1m";q=5;w=2');
  });

  it('RateLimit carries r and t (seconds, rounded up) per policy, in order', () => {
    const set = compilePolicySet([p5, daily]);
    const value = rateLimitHeader(set, [
      decision({ remaining: 4, resetMs: 59_001 }),
      decision({ policy: 'daily', limit: 1000, remaining: 998, resetMs: 1 }),
    ]);
    expect(value).toBe('"5-in-1m";r=4;t=60, "daily";r=998;t=1');
  });
});

describe('Retry-After', () => {
  it('is the latest refusing policy, in whole seconds rounded up, at least 1', () => {
    expect(retryAfterSeconds([decision({ allowed: false, retryAfterMs: 12_000 })])).toBe(12);
    expect(retryAfterSeconds([decision({ allowed: false, retryAfterMs: 12_001 })])).toBe(13);
    expect(retryAfterSeconds([decision({ allowed: false, retryAfterMs: 3 })])).toBe(1);
    expect(
      retryAfterSeconds([
        decision({ allowed: false, retryAfterMs: 2_000 }),
        decision({ allowed: true, retryAfterMs: 0 }),
        decision({ allowed: false, retryAfterMs: 5_500 }),
      ]),
    ).toBe(6);
  });
});

describe('legacy headers', () => {
  it('describe the policy with the fewest units left', () => {
    const chosen = mostRestrictive([
      decision({ policy: 'a', remaining: 3 }),
      decision({ policy: 'b', remaining: 1 }),
      decision({ policy: 'c', remaining: 1, resetMs: 90_000 }),
    ]);
    expect(chosen.policy).toBe('c');
  });
});
