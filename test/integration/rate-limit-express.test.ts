import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sendProblem } from '../../src/problem.js';
import { createLimiter } from '../../src/rate-limit/limiter.js';
import { rateLimit } from '../../src/rate-limit/rate-limit.js';
import { parseRateLimitOptions, type RateLimitOptions } from '../../src/schema/rate-limit.js';
import { MemoryStore } from '../../src/stores/memory-store.js';
import type { ChargeReceipt, RateLimitStore } from '../../src/stores/types.js';
import type {
  GatewayEvent,
  GatewayMiddleware,
  GatewayRequest,
  Principal,
  RateLimitDecision,
} from '../../src/types.js';
import { EXPRESS_MAJORS, type ExpressMajor, type Host, startHost } from '../helpers/host.js';
import { awayFromMinuteBoundary } from '../helpers/minute-boundary.js';

interface Harness {
  host: Host;
  /** Requests that reached the handler behind the limiter. */
  reached: Array<{ url: string; rateLimit: RateLimitDecision[] | undefined }>;
  events: GatewayEvent[];
  limiter: GatewayMiddleware;
}

const open: Array<() => Promise<void>> = [];
beforeEach(awayFromMinuteBoundary);
afterEach(async () => {
  while (open.length > 0) await open.pop()?.();
});

/** A real Express app: optional principal injection, rateLimit(), then a handler that records what reached it. */
async function start(
  major: ExpressMajor,
  options: RateLimitOptions,
  setup: { trustProxy?: boolean; principals?: Record<string, Principal> } = {},
): Promise<Harness> {
  const reached: Harness['reached'] = [];
  const events: GatewayEvent[] = [];
  const limiter = rateLimit({ ...options, onEvent: (e) => events.push(e) });
  const host = await startHost((app) => {
    if (setup.trustProxy) app.set('trust proxy', true);
    app.use((req: GatewayRequest, _res: ServerResponse, next: () => void) => {
      const who = req.headers['x-test-principal'];
      const principal = typeof who === 'string' ? setup.principals?.[who] : undefined;
      if (principal) req.gateway = { requestId: `req-${reached.length}`, principal };
      next();
    });
    app.use(limiter);
    app.use((req: GatewayRequest, res: ServerResponse) => {
      reached.push({ url: req.url ?? '', rateLimit: req.gateway?.rateLimit });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true }));
    });
  }, major);
  open.push(async () => {
    await host.close();
    await limiter.close();
  });
  return { host, reached, events, limiter };
}

function get(h: Harness, path = '/x', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${h.host.url}${path}`, { headers });
}

describe.each(EXPRESS_MAJORS)('rateLimit() on Express %i', (major) => {
  it('answers the 6th request in a window with 429 problem+json and headers, and the handler never sees it', async () => {
    const h = await start(major, { limit: 5, window: '1m' });
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await get(h);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe('"5-in-1m";q=5;w=60');
      remaining.push(res.headers.get('ratelimit') ?? '');
      await res.text();
    }
    expect(remaining.map((v) => v.replace(/;t=\d+$/, ''))).toEqual([
      '"5-in-1m";r=4',
      '"5-in-1m";r=3',
      '"5-in-1m";r=2',
      '"5-in-1m";r=1',
      '"5-in-1m";r=0',
    ]);
    const refused = await get(h);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.headers.get('ratelimit-policy')).toBe('"5-in-1m";q=5;w=60');
    expect(refused.headers.get('ratelimit')).toMatch(/^"5-in-1m";r=0;t=\d+$/);
    // Token bucket 5 per minute: one unit back every 12 s (less what has drained since the first request).
    expect(['11', '12']).toContain(refused.headers.get('retry-after'));
    const body = (await refused.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      type: 'about:blank',
      title: 'Too Many Requests',
      status: 429,
      code: 'rate_limited',
      detail: "Rate limit exceeded for policy '5-in-1m'.",
      'violated-policies': ['5-in-1m'],
    });
    expect(body.requestId).toBe(refused.headers.get('x-request-id'));
    expect(h.reached).toHaveLength(5);
    expect(h.reached[4]?.rateLimit).toEqual([
      expect.objectContaining({ policy: '5-in-1m', allowed: true, limit: 5, remaining: 0 }),
    ]);
    // The five it let through are not its to report (SPEC §10): only the request it answered,
    // once its response is over (after the client has read it).
    await vi.waitFor(() => expect(h.events).toHaveLength(2));
    expect(h.events).toEqual([
      expect.objectContaining({
        type: 'ratelimit.refused',
        policies: ['5-in-1m'],
        requestId: body.requestId,
      }),
      expect.objectContaining({
        type: 'request.completed',
        requestId: body.requestId,
        route: null,
        status: 429,
        outcome: 'refused',
        code: 'rate_limited',
      }),
    ]);
  });

  it("headers: 'legacy', 'both' and false; Retry-After stays on 429 in every mode", async () => {
    const legacy = await start(major, { limit: 1, window: '1m', headers: 'legacy' });
    const ok = await get(legacy);
    expect(ok.headers.get('ratelimit')).toBeNull();
    expect(ok.headers.get('x-ratelimit-limit')).toBe('1');
    expect(ok.headers.get('x-ratelimit-remaining')).toBe('0');
    const reset = Number(ok.headers.get('x-ratelimit-reset'));
    expect(reset).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 59);
    expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 61);

    const both = await start(major, { limit: 1, window: '1m', headers: 'both' });
    const b = await get(both);
    expect(b.headers.get('ratelimit')).toMatch(/^"1-in-1m";r=0;t=60$/);
    expect(b.headers.get('x-ratelimit-remaining')).toBe('0');

    const none = await start(major, { limit: 1, window: '1m', headers: false });
    const n1 = await get(none);
    expect(n1.status).toBe(200);
    expect(n1.headers.get('ratelimit')).toBeNull();
    expect(n1.headers.get('x-ratelimit-limit')).toBeNull();
    const n2 = await get(none);
    expect(n2.status).toBe(429);
    expect(n2.headers.get('retry-after')).toBe('60');
    expect(n2.headers.get('ratelimit')).toBeNull();
    expect(none.reached).toHaveLength(1);
  });

  it('keys IPv6 clients by /56 and IPv4-mapped clients by their IPv4 address, through trust proxy', async () => {
    const h = await start(major, { limit: 1, window: '1m' }, { trustProxy: true });
    const from = (ip: string) => get(h, '/x', { 'x-forwarded-for': ip });
    expect((await from('2001:db8:1:100::1')).status).toBe(200);
    expect((await from('2001:db8:1:1ff:ffff::2')).status).toBe(429); // same /56
    expect((await from('2001:db8:1:200::1')).status).toBe(200); // next /56
    expect((await from('203.0.113.9')).status).toBe(200);
    expect((await from('::ffff:203.0.113.9')).status).toBe(429); // same client
    expect(h.reached).toHaveLength(3);

    const full = await start(
      major,
      { limit: 1, window: '1m', ipv6Subnet: false },
      { trustProxy: true },
    );
    const fromFull = (ip: string) => get(full, '/x', { 'x-forwarded-for': ip });
    expect((await fromFull('2001:db8:1:100::1')).status).toBe(200);
    expect((await fromFull('2001:db8:1:100::2')).status).toBe(200);
    expect((await fromFull('2001:db8:1:100::1')).status).toBe(429);
  });

  it('without trust proxy, X-Forwarded-For is ignored: every client is the socket address', async () => {
    const h = await start(major, { limit: 1, window: '1m' });
    expect((await get(h, '/x', { 'x-forwarded-for': '198.51.100.1' })).status).toBe(200);
    expect((await get(h, '/x', { 'x-forwarded-for': '198.51.100.2' })).status).toBe(429);
  });

  it('keys by principal when authenticated (never colliding with an ip), by ip when anonymous', async () => {
    const principals: Record<string, Principal> = {
      alice: { id: 'alice', type: 'apiKey', scopes: [] },
      bob: { id: 'bob', type: 'apiKey', scopes: [] },
      anon: { id: 'anonymous', type: 'anonymous', scopes: [] },
      ipish: { id: '127.0.0.1', type: 'apiKey', scopes: [] },
    };
    const h = await start(major, { limit: 1, window: '1m' }, { principals });
    const as = (who: string) => get(h, '/x', { 'x-test-principal': who });
    expect((await as('alice')).status).toBe(200);
    expect((await as('alice')).status).toBe(429);
    expect((await as('bob')).status).toBe(200);
    expect((await as('anon')).status).toBe(200); // keyed by 127.0.0.1
    expect((await get(h)).status).toBe(429); // the same ip, no principal
    expect((await as('ipish')).status).toBe(200); // id '127.0.0.1' is not the ip 127.0.0.1
    const refusedAlice = h.events.find((e) => e.type === 'ratelimit.refused');
    expect(refusedAlice).toMatchObject({ consumerId: 'alice' });

    const byIp = await start(major, { limit: 1, window: '1m', key: 'ip' }, { principals });
    expect((await get(byIp, '/x', { 'x-test-principal': 'alice' })).status).toBe(200);
    expect((await get(byIp, '/x', { 'x-test-principal': 'bob' })).status).toBe(429);

    const byFn = await start(major, {
      limit: 1,
      window: '1m',
      key: (req) => String(req.headers['x-tenant']),
    });
    expect((await get(byFn, '/x', { 'x-tenant': 't1' })).status).toBe(200);
    expect((await get(byFn, '/x', { 'x-tenant': 't2' })).status).toBe(200);
    expect((await get(byFn, '/x', { 'x-tenant': 't1' })).status).toBe(429);
  });

  it('plans replace the default policy; an array plan applies all of its policies', async () => {
    const principals: Record<string, Principal> = {
      free: { id: 'f', type: 'apiKey', scopes: [], plan: 'free' },
      pro: { id: 'p', type: 'apiKey', scopes: [], plan: 'pro' },
      other: { id: 'o', type: 'apiKey', scopes: [], plan: 'unknown-plan' },
    };
    const h = await start(
      major,
      {
        limit: 1,
        window: '1m',
        plans: {
          free: { limit: 2, window: '1m', name: 'free' },
          pro: [
            { limit: 3, window: '1s', name: 'pro-burst' },
            { limit: 100, window: '1d', name: 'pro-daily', algorithm: 'fixed-window' },
          ],
        },
      },
      { principals },
    );
    const as = (who: string) => get(h, '/x', { 'x-test-principal': who });
    expect((await as('free')).headers.get('ratelimit-policy')).toBe('"free";q=2;w=60');
    expect((await as('free')).status).toBe(200);
    expect((await as('free')).status).toBe(429);
    const pro = await as('pro');
    expect(pro.headers.get('ratelimit-policy')).toBe(
      '"pro-burst";q=3;w=1, "pro-daily";q=100;w=86400',
    );
    expect(pro.headers.get('ratelimit')).toMatch(/^"pro-burst";r=2;t=1, "pro-daily";r=99;t=\d+$/);
    expect((await as('other')).headers.get('ratelimit-policy')).toBe('"1-in-1m";q=1;w=60');
  });

  it('several limits are all-or-nothing: a refused request consumes from none', async () => {
    const h = await start(major, {
      limits: [
        { limit: 2, window: '1m', name: 'burst', algorithm: 'fixed-window' },
        { limit: 10, window: '1h', name: 'hourly' },
      ],
    });
    await get(h);
    await get(h);
    const refused = await get(h);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('ratelimit')).toMatch(/^"burst";r=0;t=\d+, "hourly";r=8;t=\d+$/);
    expect(((await refused.json()) as Record<string, unknown>)['violated-policies']).toEqual([
      'burst',
    ]);
    await get(h);
    const again = await get(h);
    // 'hourly' still shows 8 left: neither refused request charged it.
    expect(again.headers.get('ratelimit')).toMatch(/"hourly";r=8;/);
    expect(h.reached).toHaveLength(2);
  });

  it('cost (number or function) and skip', async () => {
    const h = await start(major, {
      limit: 10,
      window: '1m',
      cost: (req) => Number(req.headers['x-cost'] ?? 1),
      skip: (req) => req.url === '/health',
    });
    expect((await get(h, '/x', { 'x-cost': '7' })).headers.get('ratelimit')).toMatch(/r=3;/);
    expect((await get(h, '/x', { 'x-cost': '4' })).status).toBe(429);
    const health = await get(h, '/health');
    expect(health.status).toBe(200);
    expect(health.headers.get('ratelimit')).toBeNull();
    expect((await get(h, '/x', { 'x-cost': '3' })).status).toBe(200);
    const bad = await get(h, '/x', { 'x-cost': 'lots' });
    expect(bad.status).toBe(500); // a cost function returning NaN is the host's bug: next(err)

    const fixed = await start(major, { limit: 10, window: '1m', cost: 5 });
    expect((await get(fixed)).headers.get('ratelimit')).toMatch(/r=5;/);
  });
});

describe('refill, end to end with a real short window', () => {
  it('a token bucket of 2 per 400 ms gives one request back after 200 ms', {
    retry: 2,
  }, async () => {
    const h = await start(5, { limit: 2, window: '400ms' });
    expect((await get(h)).status).toBe(200);
    expect((await get(h)).status).toBe(200);
    const refused = await get(h);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    await new Promise((resolve) => setTimeout(resolve, 230));
    expect((await get(h)).status).toBe(200);
    expect((await get(h)).status).toBe(429);
    expect(h.reached).toHaveLength(3);
  });
});

describe('store failures', () => {
  const failing = (mode: 'throw' | 'reject' | 'hang'): RateLimitStore => ({
    consume() {
      if (mode === 'throw') throw new Error('store exploded');
      if (mode === 'reject') return Promise.reject(new Error('store rejected'));
      return new Promise(() => {});
    },
    reset() {},
  });

  for (const mode of ['throw', 'reject', 'hang'] as const) {
    it(`a store that ${mode}s fails open by default (event), closed with onStoreError 'deny' (503), within storeTimeout + 50 ms`, {
      retry: 2,
    }, async () => {
      const open1 = await start(5, {
        limit: 1,
        window: '1m',
        store: failing(mode),
        storeTimeout: '150ms',
      });
      let t = performance.now();
      const allowed = await get(open1);
      expect(allowed.status).toBe(200);
      expect(performance.now() - t).toBeLessThan(200);
      expect(open1.reached).toHaveLength(1);
      expect(open1.events).toEqual([
        expect.objectContaining({
          type: 'ratelimit.store_error',
          action: 'allow',
          error: mode === 'hang' ? 'timeout' : expect.stringMatching(/store/),
        }),
      ]);

      const closed = await start(5, {
        limit: 1,
        window: '1m',
        store: failing(mode),
        storeTimeout: '150ms',
        onStoreError: 'deny',
      });
      t = performance.now();
      const denied = await get(closed);
      expect(performance.now() - t).toBeLessThan(200);
      expect(denied.status).toBe(503);
      expect(await denied.json()).toMatchObject({ code: 'service_unavailable', status: 503 });
      expect(closed.reached).toHaveLength(0);
      expect(closed.events[0]).toMatchObject({ type: 'ratelimit.store_error', action: 'deny' });
    });
  }

  it('requests waiting on a slow store each time out storeTimeout after their own start, answered ones untouched', {
    retry: 2,
  }, async () => {
    // /hang-* never get an answer from the store; /ok-* get one after 10 ms.
    const store: RateLimitStore = {
      consume: (key, policies) =>
        key.includes('hang')
          ? new Promise(() => {})
          : new Promise((resolve) =>
              setTimeout(
                () =>
                  resolve(
                    policies.map((p) => ({
                      policy: p.name,
                      allowed: true,
                      limit: p.limit,
                      remaining: p.limit - 1,
                      resetMs: 1_000,
                      retryAfterMs: 0,
                    })),
                  ),
                10,
              ),
            ),
      reset() {},
    };
    const h = await start(5, {
      limit: 5,
      window: '1m',
      key: (req) => req.url ?? '',
      store,
      storeTimeout: '150ms',
      onStoreError: 'deny',
    });
    const timed = async (path: string, after: number) => {
      await new Promise((resolve) => setTimeout(resolve, after));
      const t = performance.now();
      const res = await get(h, path);
      return { status: res.status, ms: performance.now() - t };
    };
    const [a, ok, b, ok2] = await Promise.all([
      timed('/hang-a', 0),
      timed('/ok-1', 40),
      timed('/hang-b', 80),
      timed('/ok-2', 170),
    ]);
    for (const hung of [a, b]) {
      expect(hung?.status).toBe(503);
      expect(hung?.ms).toBeGreaterThanOrEqual(145);
      expect(hung?.ms).toBeLessThan(200);
    }
    for (const answered of [ok, ok2]) {
      expect(answered?.status).toBe(200);
      expect(answered?.ms).toBeLessThan(100);
    }
    expect(h.reached.map((r) => r.url)).toEqual(['/ok-1', '/ok-2']);
    expect(h.events.filter((e) => e.type === 'ratelimit.store_error')).toHaveLength(2);
  });

  it('a late answer that charged a request already failed is given back through refund (SPEC §8)', {
    retry: 2,
  }, async () => {
    const memory = new MemoryStore();
    open.push(() => memory.close());
    let delayMs = 150;
    const consumed: ChargeReceipt[] = [];
    const refunded: Array<{ key: string; cost: number; receipt: ChargeReceipt }> = [];
    const store: RateLimitStore = {
      consume: (key, policies, cost, receipt) => {
        if (receipt) consumed.push(receipt);
        return new Promise((resolve) =>
          setTimeout(() => resolve(memory.consume(key, policies, cost, receipt)), delayMs),
        );
      },
      reset: (key) => memory.reset(key),
      refund: (key, policies, cost, receipt) => {
        refunded.push({ key, cost, receipt });
        memory.refund(key, policies, cost, receipt);
      },
    };
    const h = await start(5, {
      limit: 3,
      window: '1m',
      key: () => 'one',
      cost: 1,
      store,
      storeTimeout: '50ms',
      onStoreError: 'deny',
    });
    // Both answered 503 at 50 ms; the store charges them at 150 ms.
    expect(await Promise.all([get(h), get(h)]).then((rs) => rs.map((r) => r.status))).toEqual([
      503, 503,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(refunded).toHaveLength(2);
    expect(refunded.map((r) => [r.key, r.cost])).toEqual([
      ['fn:one', 1],
      ['fn:one', 1],
    ]);
    // The very receipts consume was given, filled in by the store.
    expect(refunded.map((r) => r.receipt)).toEqual(consumed.slice(0, 2));
    expect(refunded.every((r, i) => r.receipt === consumed[i])).toBe(true);
    delayMs = 0;
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(h)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(h.reached).toHaveLength(3);
    // A late answer that refused charged nothing: nothing to give back.
    delayMs = 150;
    expect((await get(h)).status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(refunded).toHaveLength(2);
  });

  it('a store answering the wrong number of decisions is a store failure', async () => {
    const h = await start(5, {
      limit: 1,
      window: '1m',
      onStoreError: 'deny',
      store: { consume: () => [], reset() {} },
    });
    expect((await get(h)).status).toBe(503);
  });
});

describe('createLimiter', () => {
  it('on the memory path the step answers a plain boolean (no promise tick)', async () => {
    const store = new MemoryStore();
    const limiter = createLimiter(parseRateLimitOptions({ limit: 1, window: '1m' }).value, {
      emit: () => {},
      sendProblem,
      store,
      routeName: 'users',
    });
    const results: unknown[] = [];
    const host = await startHost((app) => {
      app.use((req: GatewayRequest, res: ServerResponse) => {
        const result = limiter.step(req, res);
        results.push(result);
        if (result === true) res.end('ok');
      });
    });
    open.push(async () => {
      await host.close();
      await limiter.close();
      await store.close();
    });
    expect((await fetch(host.url)).status).toBe(200);
    expect((await fetch(host.url)).status).toBe(429);
    expect(results).toEqual([true, false]);
    // The shared store was used (and not closed by the limiter).
    await limiter.close();
    expect(store.size).toBe(1);
  });

  it('prefers options.store over the gateway store', async () => {
    const mine = new MemoryStore();
    const shared = new MemoryStore();
    const limiter = createLimiter(
      parseRateLimitOptions({ limit: 1, window: '1m', store: mine }).value,
      {
        emit: () => {},
        sendProblem,
        store: shared,
      },
    );
    const host = await startHost((app) => {
      app.use((req: GatewayRequest, res: ServerResponse) => {
        if (limiter.step(req, res) === true) res.end('ok');
      });
    });
    open.push(async () => {
      await host.close();
      await mine.close();
      await shared.close();
    });
    await fetch(host.url);
    expect(mine.size).toBe(1);
    expect(shared.size).toBe(0);
  });
});
