// portcullis/metrics with a real prom-client Registry: real gateways on Express in front of real
// upstreams, the metrics handler mounted on a real app and scraped over HTTP, the exposition
// parsed as Prometheus would. Counts must match exactly what was sent; labels must stay bounded
// whatever clients send.
import { randomBytes } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { register as globalRegister, Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { EVENT_TYPES } from '../../src/events.js';
import {
  createGateway,
  GatewayConfigError,
  type GatewayEvent,
  type GatewayMiddleware,
  type RateLimitStore,
} from '../../src/index.js';
import { DEFAULT_BUCKETS, prometheusMetrics } from '../../src/metrics/index.js';
import { type AnyExpressApp, EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { parseExposition, type Sample, sampleValue, seriesOf } from '../helpers/prometheus.js';
import { rawRequest } from '../helpers/raw-http.js';
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js';

const KEY = 'alice-secret-key-0123456789';

/** A store that always rejects (onStoreError 'allow' by default: the request goes on). */
const brokenStore: RateLimitStore = {
  consume: () => Promise.reject(new Error('store down')),
  reset() {},
};

/** Scrapes `url` over HTTP and parses what Prometheus would read. */
async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await res.text());
}

/** Sum of every sample of one metric (e.g. all `requests_total` series). */
function total(samples: Sample[], name: string): number {
  return samples.filter((s) => s.name === name).reduce((sum, s) => sum + s.value, 0);
}

/** A gateway on Express in front of `upstream`: the seed-like routes the counts are made on. */
function seedGateway(upstream: Upstream, deadPort: number, extra: { name: string }) {
  return createGateway({
    auth: { apiKey: { keys: [{ id: 'alice', key: KEY }] } },
    routes: [
      {
        name: `${extra.name}-orders`,
        path: '/orders{/*rest}',
        target: upstream.url,
        rateLimit: { limit: 7, window: '1m', name: 'seven' },
      },
      {
        name: `${extra.name}-flaky`,
        path: '/flaky',
        target: upstream.url,
        auth: false,
        rateLimit: { limit: 5, window: '1m', name: 'flaky-policy', store: brokenStore },
      },
      {
        name: `${extra.name}-dead`,
        path: '/dead',
        target: `http://127.0.0.1:${deadPort}`,
        auth: false,
      },
    ],
  });
}

describe.each(EXPRESS_MAJORS)('prometheusMetrics() scraped over HTTP, Express %i', (major) => {
  let upstream: Upstream;
  let deadPort: number;
  let host: Host;
  let metricsHost: Host;
  let registry: Registry;
  let metrics: ReturnType<typeof prometheusMetrics>;
  const gateways: GatewayMiddleware[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    deadPort = await closedPort();
  });

  afterAll(async () => {
    await upstream.close();
  });

  afterEach(async () => {
    upstream.received.length = 0;
    await metrics?.close();
    await Promise.all(gateways.splice(0).map((g) => g.close()));
    await host?.close();
    await metricsHost?.close();
  });

  async function start(mount: (app: AnyExpressApp) => void) {
    registry = new Registry();
    metrics = prometheusMetrics({ registry });
    host = await startHost(mount, major);
    metricsHost = await startHost(
      (app: AnyExpressApp) => app.get('/metrics', metrics.handler),
      major,
    );
  }

  const metricsUrl = () => `${metricsHost.url}/metrics`;

  it('counts exactly what was sent: 7 × 200, 3 × 401, 2 × 429, 1 × 404 fall-through, 1 × 502, 1 store error', async () => {
    // The gateway is built once the metrics subscribe, so they see its initial configuration.
    await start((app) => {
      const gateway = seedGateway(upstream, deadPort, { name: 'a' });
      gateways.push(gateway);
      app.use('/api', gateway);
    });
    const send = (path: string, key?: string) =>
      fetch(`${host.url}${path}`, key ? { headers: { 'x-api-key': key } } : {});

    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await send(`/api/orders/${i}`, KEY)).status);
    for (let i = 0; i < 3; i++) statuses.push((await send('/api/orders/x')).status);
    for (let i = 0; i < 2; i++) statuses.push((await send('/api/orders/x', KEY)).status);
    statuses.push((await send('/api/nowhere')).status);
    statuses.push((await send('/api/dead')).status);
    statuses.push((await send('/api/flaky')).status);
    expect(statuses).toEqual([
      200, 200, 200, 200, 200, 200, 200, 401, 401, 401, 429, 429, 404, 502, 200,
    ]);
    // What the upstream saw: the 7 admitted orders and the flaky route's request, nothing else.
    expect(upstream.received.map((r) => r.url)).toEqual([
      ...Array.from({ length: 7 }, (_, i) => `/orders/${i}`),
      '/flaky',
    ]);
    upstream.received.length = 0;

    // request.completed comes once each response is over: wait for all 15.
    let samples: Sample[] = [];
    await vi.waitFor(async () => {
      samples = await scrape(metricsUrl());
      expect(total(samples, 'portcullis_requests_total')).toBe(15);
    });
    const requests = (route: string, status: string) =>
      sampleValue(samples, 'portcullis_requests_total', { route, method: 'GET', status });
    expect(requests('a-orders', '200')).toBe(7);
    expect(requests('a-orders', '401')).toBe(3);
    expect(requests('a-orders', '429')).toBe(2);
    expect(requests('unmatched', '404')).toBe(1);
    expect(requests('a-dead', '502')).toBe(1);
    expect(requests('a-flaky', '200')).toBe(1);
    expect(samples.filter((s) => s.name === 'portcullis_requests_total')).toHaveLength(6);

    const durationCount = (route: string) =>
      sampleValue(samples, 'portcullis_request_duration_seconds_count', { route, method: 'GET' });
    expect(durationCount('a-orders')).toBe(12);
    expect(durationCount('unmatched')).toBe(1);
    // The default buckets: OpenTelemetry's HTTP ones, 5 ms … 10 s, then +Inf.
    const les = samples
      .filter(
        (s) =>
          s.name === 'portcullis_request_duration_seconds_bucket' && s.labels.route === 'a-orders',
      )
      .map((s) => s.labels.le);
    expect(les).toEqual([...DEFAULT_BUCKETS.map(String), '+Inf']);
    expect(
      sampleValue(samples, 'portcullis_request_duration_seconds_bucket', {
        route: 'a-orders',
        method: 'GET',
        le: '+Inf',
      }),
    ).toBe(12);

    const upstreamCount = (route: string, target: string) =>
      sampleValue(samples, 'portcullis_upstream_duration_seconds_count', { route, target });
    expect(upstreamCount('a-orders', upstream.url)).toBe(7);
    expect(upstreamCount('a-flaky', upstream.url)).toBe(1);
    expect(upstreamCount('a-dead', `http://127.0.0.1:${deadPort}`)).toBe(1);

    expect(
      sampleValue(samples, 'portcullis_auth_failures_total', { reason: 'missing_credentials' }),
    ).toBe(3);
    expect(total(samples, 'portcullis_auth_failures_total')).toBe(3);
    expect(
      sampleValue(samples, 'portcullis_ratelimit_refusals_total', {
        route: 'a-orders',
        policy: 'seven',
      }),
    ).toBe(2);
    expect(sampleValue(samples, 'portcullis_store_errors_total', { policy: 'flaky-policy' })).toBe(
      1,
    );
    expect(
      sampleValue(samples, 'portcullis_target_up', { route: 'a-orders', target: upstream.url }),
    ).toBe(1);
    // No configuration update has happened (the initial configuration is not one), but
    // config_info already names the configuration that serves.
    expect(total(samples, 'portcullis_config_updates_total')).toBe(0);
    expect(samples.filter((s) => s.name === 'portcullis_config_info')).toHaveLength(1);
  });

  it('keeps its labels bounded under hostile input: random paths, odd methods, many consumers', async () => {
    const gateway = createGateway({
      // Any key is accepted, each as its own consumer.
      auth: {
        apiKey: { keys: (key) => ({ id: `consumer-${key}`, type: 'apiKey', scopes: [] }) },
      },
      routes: [{ name: 'orders', path: '/orders{/*rest}', target: upstream.url }],
    });
    gateways.push(gateway);
    await start((app) => {
      app.set('trust proxy', true);
      app.use('/api', gateway);
    });
    const secrets: string[] = [];
    async function hostileRound(): Promise<number> {
      let sent = 0;
      for (let i = 0; i < 12; i++) {
        const token = randomBytes(6).toString('hex');
        secrets.push(token);
        const headers = {
          'x-api-key': `key-${token}`,
          'x-forwarded-for': `10.${i}.${token.length}.7`,
          'x-request-id': `id-${token}`,
        };
        const method = ['GET', 'POST', 'PROPFIND', 'PURGE'][i % 4] as string;
        await fetch(`${host.url}/api/orders/${token}?q=${token}`, { method, headers });
        await fetch(`${host.url}/api/${token}/elsewhere`, { method, headers });
        sent += 2;
      }
      // A method Node itself refuses never reaches the gateway (Node answers 400).
      const foo = await rawRequest(
        host.port,
        `FOO /api/orders/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
      );
      expect(foo.status).toBe(400);
      return sent;
    }

    let expected = await hostileRound();
    let first: Sample[] = [];
    await vi.waitFor(async () => {
      first = await scrape(metricsUrl());
      expect(total(first, 'portcullis_requests_total')).toBe(expected);
    });
    expected += await hostileRound();
    let second: Sample[] = [];
    await vi.waitFor(async () => {
      second = await scrape(metricsUrl());
      expect(total(second, 'portcullis_requests_total')).toBe(expected);
    });
    // The same series, only their values moved.
    expect([...seriesOf(second)].sort()).toEqual([...seriesOf(first)].sort());
    const requestSeries = second
      .filter((s) => s.name === 'portcullis_requests_total')
      .map((s) => s.labels);
    expect(requestSeries).toEqual(
      expect.arrayContaining([
        { route: 'orders', method: 'GET', status: '200' },
        { route: 'orders', method: 'POST', status: '200' },
        { route: 'orders', method: '_OTHER', status: '200' },
        { route: 'unmatched', method: 'GET', status: '404' },
        { route: 'unmatched', method: 'POST', status: '404' },
        { route: 'unmatched', method: '_OTHER', status: '404' },
      ]),
    );
    expect(requestSeries).toHaveLength(6);
    // No label value carries what a client sent: paths, keys, consumer ids, addresses, ids.
    const values = second.flatMap((s) => Object.values(s.labels));
    for (const token of secrets) expect(values.join('\n')).not.toContain(token);
    for (const sample of second) {
      for (const [name, value] of Object.entries(sample.labels)) {
        // The only address in a label is a configured target's.
        if (name !== 'target') expect(value).not.toContain('127.0.0.1');
        expect(value).not.toMatch(/\b10\.\d+\./);
        expect(value).not.toContain('consumer-');
      }
    }
    upstream.received.length = 0;
  });

  it('counts every gateway in the process, and stops counting once closed', async () => {
    const a = seedGateway(upstream, deadPort, { name: 'a' });
    const b = seedGateway(upstream, deadPort, { name: 'b' });
    gateways.push(a, b);
    let otherHost: Host | undefined;
    try {
      await start((app) => app.use('/api', a));
      otherHost = await startHost((app: AnyExpressApp) => app.use('/api', b), major);
      expect(
        (await fetch(`${host.url}/api/orders/1`, { headers: { 'x-api-key': KEY } })).status,
      ).toBe(200);
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${otherHost.url}/api/orders/1`, { headers: { 'x-api-key': KEY } });
        expect(res.status).toBe(200);
      }
      let samples: Sample[] = [];
      await vi.waitFor(async () => {
        samples = await scrape(metricsUrl());
        expect(total(samples, 'portcullis_requests_total')).toBe(3);
      });
      const ok = { method: 'GET', status: '200' };
      expect(sampleValue(samples, 'portcullis_requests_total', { route: 'a-orders', ...ok })).toBe(
        1,
      );
      expect(sampleValue(samples, 'portcullis_requests_total', { route: 'b-orders', ...ok })).toBe(
        2,
      );

      await metrics.close();
      for (const url of [host.url, otherHost.url]) {
        const res = await fetch(`${url}/api/orders/2`, { headers: { 'x-api-key': KEY } });
        expect(res.status).toBe(200);
      }
      // The upstream saw those two requests; the metrics did not count them.
      await vi.waitFor(() => expect(upstream.received).toHaveLength(5));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const after = await scrape(metricsUrl());
      expect(total(after, 'portcullis_requests_total')).toBe(3);
    } finally {
      await otherHost?.close();
      upstream.received.length = 0;
    }
  });
});

describe('prometheusMetrics() registries and options', () => {
  it('registers in a Registry of its own by default, never in the global one', async () => {
    const before = (await globalRegister.getMetricsAsJSON()).length;
    const metrics = prometheusMetrics();
    try {
      expect(metrics.registry).toBeInstanceOf(Registry);
      expect(metrics.registry).not.toBe(globalRegister);
      expect((await globalRegister.getMetricsAsJSON()).length).toBe(before);
      const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name).sort();
      expect(names).toEqual([
        'portcullis_auth_failures_total',
        'portcullis_config_info',
        'portcullis_config_updates_total',
        'portcullis_ratelimit_refusals_total',
        'portcullis_request_duration_seconds',
        'portcullis_requests_total',
        'portcullis_store_errors_total',
        'portcullis_target_up',
        'portcullis_upstream_duration_seconds',
      ]);
    } finally {
      await metrics.close();
    }
  });

  it('uses the global registry when it is passed, with a prefix and buckets of the caller', async () => {
    const metrics = prometheusMetrics({
      registry: globalRegister,
      prefix: 'edge_',
      buckets: [0.1, 1],
    });
    try {
      const json = await globalRegister.getMetricsAsJSON();
      expect(json.map((m) => m.name)).toContain('edge_requests_total');
      const text = await globalRegister.metrics();
      expect(text).not.toContain('portcullis_');
    } finally {
      await metrics.close();
      globalRegister.clear();
    }
  });

  it.each([
    [{ prefix: '1bad' }, 'prefix'],
    [{ prefix: 'a-b' }, 'prefix'],
    [{ buckets: [] }, 'buckets'],
    [{ buckets: [1, 0.5] }, 'buckets[1]'],
    [{ buckets: [0, 1] }, 'buckets[0]'],
    [{ buckets: [1, Number.NaN] }, 'buckets[1]'],
    [{ registry: {} }, 'registry'],
    [{ registery: new Registry() }, 'registery'],
  ])('refuses %j with GatewayConfigError naming %s', (options, field) => {
    expect(() => prometheusMetrics(options as never)).toThrow(GatewayConfigError);
    try {
      prometheusMetrics(options as never);
    } catch (err) {
      expect((err as GatewayConfigError).field).toBe(field);
    }
  });

  it('refuses a registry that already has its metrics, and registers nothing then', async () => {
    const registry = new Registry();
    const first = prometheusMetrics({ registry });
    try {
      expect(() => prometheusMetrics({ registry })).toThrow(
        /registry: already has a metric named 'portcullis_requests_total'/,
      );
      // Another prefix in the same registry is fine.
      const second = prometheusMetrics({ registry, prefix: 'second_' });
      await second.close();
    } finally {
      await first.close();
    }
  });
});

describe('prometheusMetrics() and the events of sections 9 and 12', () => {
  // Published on the channels as the gateway will (issue 13's config.*, section 12's
  // target.health): the metrics must read them exactly.
  const publish = async (event: GatewayEvent) => {
    const { channel } = await import('node:diagnostics_channel');
    channel(`portcullis:${event.type}`).publish(event);
  };

  it('config.updated / config.rejected: updates counted by result (version 1, the configuration a gateway starts with, is none); config_info holds the hash applied last', async () => {
    const metrics = prometheusMetrics();
    try {
      await publish({ type: 'config.updated', version: 1, hash: 'aaa111' });
      await publish({ type: 'config.rejected', error: 'routes[0].target: must be an http(s) URL' });
      await publish({ type: 'config.updated', version: 2, hash: 'bbb222' });
      const samples = parseExposition(await metrics.registry.metrics());
      expect(sampleValue(samples, 'portcullis_config_updates_total', { result: 'updated' })).toBe(
        1,
      );
      expect(sampleValue(samples, 'portcullis_config_updates_total', { result: 'rejected' })).toBe(
        1,
      );
      expect(samples.filter((s) => s.name === 'portcullis_config_info')).toEqual([
        { name: 'portcullis_config_info', labels: { hash: 'bbb222' }, value: 1 },
      ]);
    } finally {
      await metrics.close();
    }
  });

  it('target.health sets target_up 1/0; a later answer does not overrule a health verdict', async () => {
    const metrics = prometheusMetrics();
    try {
      const target = 'http://10.0.0.1:8080';
      const labels = { route: 'users', target };
      await publish({
        type: 'target.health',
        route: 'users',
        target,
        healthy: false,
        reason: 'consecutive_5xx',
      });
      let samples = parseExposition(await metrics.registry.metrics());
      expect(sampleValue(samples, 'portcullis_target_up', labels)).toBe(0);
      // A response still in flight when the target was ejected.
      await publish({
        type: 'proxy.response',
        requestId: 'r',
        route: 'users',
        target,
        attempt: 1,
        status: 200,
        durationMs: 3,
      });
      samples = parseExposition(await metrics.registry.metrics());
      expect(sampleValue(samples, 'portcullis_target_up', labels)).toBe(0);
      await publish({
        type: 'target.health',
        route: 'users',
        target,
        healthy: true,
        reason: 'recovered',
      });
      samples = parseExposition(await metrics.registry.metrics());
      expect(sampleValue(samples, 'portcullis_target_up', labels)).toBe(1);
      expect(sampleValue(samples, 'portcullis_upstream_duration_seconds_count', labels)).toBe(1);
      // A target URL with credentials (never sent by the gateway) is shown without them.
      await publish({
        type: 'target.health',
        route: 'users',
        target: 'http://user:hunter2@10.0.0.2:8080',
        healthy: true,
        reason: 'recovered',
      });
      const text = await metrics.registry.metrics();
      expect(text).not.toContain('hunter2');
      expect(text).toContain('target="http://10.0.0.2:8080"');
    } finally {
      await metrics.close();
    }
  });

  it('one upstream observation per attempt (proxy.response and proxy.error), none without a target', async () => {
    const metrics = prometheusMetrics();
    try {
      const common = { requestId: 'r', route: 'users', target: 'http://a:1', durationMs: 250 };
      await publish({
        type: 'proxy.error',
        ...common,
        attempt: 1,
        status: 502,
        code: 'bad_gateway',
        error: 'ECONNREFUSED',
      });
      await publish({
        type: 'proxy.response',
        ...common,
        target: 'http://b:1',
        attempt: 2,
        status: 200,
      });
      await publish({
        type: 'proxy.error',
        requestId: 'r2',
        route: 'users',
        attempt: 0,
        status: 503,
        code: 'service_unavailable',
        error: 'all targets down',
        durationMs: 0,
      });
      const samples = parseExposition(await metrics.registry.metrics());
      expect(total(samples, 'portcullis_upstream_duration_seconds_count')).toBe(2);
      expect(
        sampleValue(samples, 'portcullis_upstream_duration_seconds_sum', {
          route: 'users',
          target: 'http://a:1',
        }),
      ).toBe(0.25);
    } finally {
      await metrics.close();
    }
  });
});

describe('the diagnostics channels', () => {
  let upstream: Upstream;
  let host: Host;
  let gateway: GatewayMiddleware;
  const viaHook: GatewayEvent[] = [];
  const viaChannel: unknown[] = [];
  const subscribers: Array<[string, (m: unknown) => void]> = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    for (const type of EVENT_TYPES) {
      const onMessage = (message: unknown) => viaChannel.push(message);
      subscribe(`portcullis:${type}`, onMessage);
      subscribers.push([`portcullis:${type}`, onMessage]);
    }
    const dead = await closedPort();
    gateway = createGateway({
      auth: { apiKey: { keys: [{ id: 'alice', key: KEY }] } },
      // Both limits and limit: a config.warning at construction.
      rateLimit: { limit: 9, limits: [{ limit: 2, window: '1m', name: 'two' }] },
      routes: [
        { name: 'orders', path: '/orders', target: upstream.url },
        {
          name: 'flaky',
          path: '/flaky',
          target: upstream.url,
          auth: false,
          rateLimit: { limit: 5, window: '1m', store: brokenStore },
        },
        {
          name: 'dead',
          path: '/dead',
          target: `http://127.0.0.1:${dead}`,
          auth: false,
          rateLimit: false,
        },
      ],
      onEvent: (e) => {
        viaHook.push(e);
      },
    });
    host = await startHost((app: AnyExpressApp) => app.use('/api', gateway));
  });

  afterAll(async () => {
    for (const [name, onMessage] of subscribers) unsubscribe(name, onMessage);
    await gateway.close();
    await host.close();
    await upstream.close();
  });

  it('receive every event the gateway emits, the same objects onEvent gets', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (await fetch(`${host.url}/api/orders`, { headers: { 'x-api-key': KEY } })).status,
      );
    }
    statuses.push((await fetch(`${host.url}/api/orders`)).status);
    statuses.push((await fetch(`${host.url}/api/flaky`)).status);
    statuses.push((await fetch(`${host.url}/api/dead`)).status);
    expect(statuses).toEqual([200, 200, 429, 401, 200, 502]);
    await vi.waitFor(() =>
      expect(viaHook.filter((e) => e.type === 'request.completed')).toHaveLength(6),
    );
    expect(new Set(viaHook.map((e) => e.type))).toEqual(
      new Set([
        'config.updated',
        'config.warning',
        'auth.succeeded',
        'auth.failed',
        'ratelimit.refused',
        'ratelimit.store_error',
        'proxy.response',
        'proxy.error',
        'request.completed',
      ]),
    );
    expect(viaChannel).toHaveLength(viaHook.length);
    for (let i = 0; i < viaHook.length; i++) expect(viaChannel[i]).toBe(viaHook[i]);
  });
});
