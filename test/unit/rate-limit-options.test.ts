import { describe, expect, it } from 'vitest';
import { GatewayConfigError } from '../../src/errors.js';
import { sendProblem } from '../../src/problem.js';
import { createLimiter } from '../../src/rate-limit/limiter.js';
import type { RateLimitOptions } from '../../src/rate-limit/options.js';
import { resolveRateLimitOptions } from '../../src/rate-limit/options.js';
import { defaultPolicyName } from '../../src/rate-limit/policy.js';
import { rateLimit } from '../../src/rate-limit/rate-limit.js';

function fails(options: unknown, field: string, message: RegExp, prefix = ''): void {
  let error: unknown;
  try {
    resolveRateLimitOptions(options as RateLimitOptions, prefix);
  } catch (err) {
    error = err;
  }
  expect(error, JSON.stringify(options)).toBeInstanceOf(GatewayConfigError);
  expect((error as GatewayConfigError).field).toBe(field);
  expect((error as GatewayConfigError).message).toMatch(message);
}

describe('rateLimit options', () => {
  it('default names read like 5-in-1m', () => {
    expect(defaultPolicyName(5, 60_000)).toBe('5-in-1m');
    expect(defaultPolicyName(100, 3_600_000)).toBe('100-in-1h');
    expect(defaultPolicyName(3, 1_500)).toBe('3-in-1500ms');
    expect(resolveRateLimitOptions({ limit: 5, window: '60s' }, '').defaultSet.policyHeader).toBe(
      '"5-in-1m";q=5;w=60',
    );
  });

  it('applies the defaults', () => {
    const r = resolveRateLimitOptions({ limit: 5, window: '1m' }, '');
    expect(r.defaultSet.policies).toEqual([
      { name: '5-in-1m', limit: 5, windowMs: 60_000, algorithm: 'token-bucket' },
    ]);
    expect(r).toMatchObject({
      key: 'auto',
      ipv6Prefix: 56,
      cost: 1,
      headers: 'draft',
      skip: null,
      onStoreError: 'allow',
      storeTimeoutMs: 100,
      plans: null,
    });
  });

  it('names the offending field, with the prefix it was given', () => {
    fails({ window: '1m' }, 'rateLimit.limit', /required/, 'rateLimit');
    fails({ limit: 5 }, 'window', /required/);
    fails({ limit: 0, window: '1m' }, 'limit', /integer/);
    fails({ limit: 1.5, window: '1m' }, 'limit', /integer/);
    fails(
      { limit: 5, window: 'soon' },
      'routes[2].rateLimit.window',
      /duration/,
      'routes[2].rateLimit',
    );
    fails({ limit: 5, window: '1m', algorithm: 'leaky' }, 'algorithm', /one of/);
    fails({ limit: 5, window: '1m', limitt: 3 }, 'limitt', /unknown option/);
    fails({ limits: [] }, 'limits', /non-empty/);
    fails({ limits: [{ limit: 5, window: '1m' }, { limit: 2 }] }, 'limits[1].window', /required/);
    fails({ limits: [{ limit: 5, window: '1m', burst: 1 }] }, 'limits[0].burst', /unknown/);
    fails(
      {
        limits: [
          { limit: 5, window: '1m' },
          { limit: 5, window: 60_000 },
        ],
      },
      'limits',
      /two policies are named '5-in-1m'/,
    );
    fails({ limit: 5, window: '1m', name: 'has "quotes"' }, 'name', /printable ASCII/);
    fails({ limit: 5, window: '1m', name: 'a{b}' }, 'name', /printable ASCII/);
    fails({ limit: 5, window: '1m', name: '' }, 'name', /1 to 64/);
    fails({ limit: 5, window: '1m', key: 'cookie' }, 'key', /'ip', 'principal'/);
    fails({ limit: 5, window: '1m', ipv6Subnet: 129 }, 'ipv6Subnet', /between 1 and 128/);
    fails({ limit: 5, window: '1m', ipv6Subnet: true }, 'ipv6Subnet', /integer/);
    fails({ limit: 5, window: '1m', cost: -1 }, 'cost', /integer/);
    fails({ limit: 5, window: '1m', headers: true }, 'headers', /'draft'/);
    fails({ limit: 5, window: '1m', headers: 'ietf' }, 'headers', /one of/);
    fails({ limit: 5, window: '1m', skip: true }, 'skip', /function/);
    fails({ limit: 5, window: '1m', onStoreError: 'ignore' }, 'onStoreError', /'allow', 'deny'/);
    fails({ limit: 5, window: '1m', storeTimeout: 0 }, 'storeTimeout', /duration/);
    fails({ limit: 5, window: '1m', store: {} }, 'store', /consume/);
    fails({ limit: 5, window: '1m', store: { consume() {} } }, 'store', /reset/);
    fails(
      { limit: 5, window: '1m', store: { consume() {}, reset() {}, refund: 1 } as never },
      'store',
      /refund, when present, must be a method/,
    );
    fails({ limit: 5, window: '1m', plans: { pro: { limit: 5 } } }, 'plans.pro.window', /required/);
    fails({ limit: 5, window: '1m', plans: { pro: [] } }, 'plans.pro', /non-empty/);
    fails({ limit: 5, window: '1m', plans: { pro: 5 } }, 'plans.pro', /limit, window/);
    fails(
      { limit: 5, window: '1m', plans: { pro: [{ limit: 1, window: '1s', x: 1 }] } },
      'plans.pro[0].x',
      /unknown/,
    );
    fails({ limit: 1_000_000_000, window: '366d' }, 'limit', /too large/);
  });

  it('throws at construction from rateLimit() and createLimiter(), synchronously', () => {
    expect(() => rateLimit({ limit: 5, window: 'nope' })).toThrow(GatewayConfigError);
    expect(() =>
      createLimiter({ limit: 5, window: '1m', store: { consume: 1 } as never }, 'rateLimit', {
        emit: () => {},
        sendProblem,
      }),
    ).toThrow(/^rateLimit\.store: /);
  });

  it('warns when limits replaces limit/window/name', () => {
    const warnings: string[] = [];
    createLimiter({ limits: [{ limit: 1, window: '1s' }], limit: 5, window: '1m' }, 'rateLimit', {
      emit: (e) => {
        if (e.type === 'config.warning') warnings.push(e.field);
      },
      sendProblem,
    })
      .close()
      .catch(() => {});
    expect(warnings).toEqual(['rateLimit.limit', 'rateLimit.window']);
  });

  it('never mutates the options it is given', () => {
    const options = Object.freeze({
      limits: Object.freeze([Object.freeze({ limit: 1, window: '1s' })]),
      plans: Object.freeze({ pro: Object.freeze({ limit: 9, window: '1m' }) }),
    }) as unknown as RateLimitOptions;
    expect(() => resolveRateLimitOptions(options, '')).not.toThrow();
  });
});
