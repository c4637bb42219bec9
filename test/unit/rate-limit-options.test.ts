import { describe, expect, it } from 'vitest';
import { GatewayConfigError } from '../../src/errors.js';
import { createGateway } from '../../src/gateway.js';
import { compilePolicySet } from '../../src/rate-limit/headers.js';
import { defaultPolicyName } from '../../src/rate-limit/policy.js';
import { rateLimit } from '../../src/rate-limit/rate-limit.js';
import { parseRateLimitOptions, type RateLimitOptions } from '../../src/schema/rate-limit.js';
import type { GatewayEvent } from '../../src/types.js';

/** Standalone paths have no prefix; in a gateway they are under `rateLimit` or a route's. */
function fails(options: unknown, field: string, message: RegExp, prefix = ''): void {
  let error: unknown;
  try {
    if (prefix === '') parseRateLimitOptions(options);
    else if (prefix === 'rateLimit') {
      createGateway({
        rateLimit: options as RateLimitOptions,
        routes: [{ path: '/x', target: 'http://a' }],
      });
    } else {
      createGateway({
        routes: [
          { path: '/a', target: 'http://a' },
          { path: '/b', target: 'http://a' },
          { path: '/x', target: 'http://a', rateLimit: options as RateLimitOptions },
        ],
      });
    }
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
    const { policies } = parseRateLimitOptions({ limit: 5, window: '60s' }).value;
    expect(compilePolicySet(policies).policyHeader).toBe('"5-in-1m";q=5;w=60');
  });

  it('applies the defaults', () => {
    const r = parseRateLimitOptions({ limit: 5, window: '1m' }).value;
    expect(r.policies).toEqual([
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
      createGateway({
        rateLimit: { limit: 5, window: '1m', store: { consume: 1 } as never },
        routes: [{ path: '/x', target: 'http://a' }],
      }),
    ).toThrow(/^rateLimit\.store: /);
  });

  it('warns when limits replaces limit/window/name', () => {
    const { warnings } = parseRateLimitOptions({
      limits: [{ limit: 1, window: '1s' }],
      limit: 5,
      window: '1m',
    });
    expect(warnings.map((w) => w.field)).toEqual(['limit', 'window']);
    const events: GatewayEvent[] = [];
    const gateway = createGateway({
      rateLimit: { limits: [{ limit: 1, window: '1s' }], limit: 5, window: '1m' },
      routes: [{ path: '/x', target: 'http://a' }],
      onEvent: (e) => events.push(e),
    });
    gateway.close().catch(() => {});
    expect(events.filter((e) => e.type === 'config.warning').map((e) => e.field)).toEqual([
      'rateLimit.limit',
      'rateLimit.window',
    ]);
  });

  it('warns (config.warning) about a window or duration given as a bare number under a second', () => {
    const { warnings } = parseRateLimitOptions({
      limit: 5,
      window: 60,
      storeTimeout: 50,
      plans: { pro: [{ limit: 9, window: 999 }] },
    });
    expect(warnings).toEqual([
      { field: 'window', message: expect.stringContaining("did you mean '60s'?") },
      { field: 'plans.pro[0].window', message: expect.stringContaining("did you mean '999s'?") },
      { field: 'storeTimeout', message: expect.stringContaining('is 50 ms as a bare number') },
    ]);
    // Strings and numbers of a second or more say what they mean.
    expect(
      parseRateLimitOptions({ limit: 5, window: '60ms', storeTimeout: 1000 }).warnings,
    ).toEqual([]);
    const events: GatewayEvent[] = [];
    rateLimit({ limit: 5, window: 60, onEvent: (e) => events.push(e) })
      .close()
      .catch(() => {});
    expect(events).toEqual([expect.objectContaining({ type: 'config.warning', field: 'window' })]);
  });

  it('never mutates the options it is given', () => {
    const options = Object.freeze({
      limits: Object.freeze([Object.freeze({ limit: 1, window: '1s' })]),
      plans: Object.freeze({ pro: Object.freeze({ limit: 9, window: '1m' }) }),
    }) as unknown as RateLimitOptions;
    expect(() => parseRateLimitOptions(options)).not.toThrow();
  });
});
