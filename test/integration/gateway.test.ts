// The whole gateway as a user mounts it: a real Express host (4 and 5), real
// upstream servers on 127.0.0.1, the seed scenario of the README and SPEC,
// and every way a request can be refused. Each test checks what the client
// got and what the upstream saw (or that it saw nothing).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createGateway,
  GatewayConfigError,
  type GatewayEvent,
  hashApiKey,
} from '../../src/index.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawGet } from '../helpers/raw-http.js';
import { sawUntouched } from '../helpers/saw-untouched.js';
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js';

/** A response body as a loose JSON object, for assertions. */
async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

const ALICE_KEY = 'alice-secret-key-0123456789';
const BOB_KEY = 'bob-secret-key-9876543210';

describe.each(EXPRESS_MAJORS)('createGateway on Express %i', (major) => {
  let publicUpstream: Upstream;
  let privateUpstream: Upstream;
  let host: Host;
  let events: GatewayEvent[];
  let gateway: ReturnType<typeof createGateway>;

  beforeAll(async () => {
    publicUpstream = await startUpstream();
    privateUpstream = await startUpstream();
  });
  afterAll(async () => {
    await publicUpstream.close();
    await privateUpstream.close();
  });
  afterEach(async () => {
    await host?.close();
    await gateway?.close();
    publicUpstream.received.length = 0;
    privateUpstream.received.length = 0;
  });

  async function startSeed(extra: Partial<Parameters<typeof createGateway>[0]> = {}) {
    events = [];
    gateway = createGateway({
      auth: {
        apiKey: {
          keys: [
            { id: 'alice', key: ALICE_KEY, scopes: ['orders:read'] },
            { id: 'bob', hash: hashApiKey(BOB_KEY) },
          ],
        },
      },
      rateLimit: { limit: 5, window: '1m' },
      routes: [
        {
          path: '/public{/*path}',
          target: publicUpstream.url,
          methods: ['GET'],
          rewrite: '/{*path}',
          auth: false,
          rateLimit: false,
        },
        {
          name: 'private',
          path: '/private{/*path}',
          target: privateUpstream.url,
          methods: ['GET', 'POST', 'PUT', 'DELETE'],
          rewrite: '/{*path}',
        },
        {
          path: '/orders/:id',
          target: privateUpstream.url,
          auth: { scopes: ['orders:read'] },
          rateLimit: false,
        },
      ],
      onEvent: (event) => events.push(event),
      ...extra,
    });
    host = await startHost((app) => {
      app.get('/own', (_req: unknown, res: { send(body: string): void }) => res.send('host route'));
      app.use('/api', gateway);
      app.use(sawUntouched);
    }, major);
    return host;
  }

  it('opens the public route without a key and forwards the rewritten path with the query', async () => {
    await startSeed();
    const res = await fetch(`${host.url}/api/public/hello/world?q=1&r=%20x`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ method: 'GET', url: '/hello/world?q=1&r=%20x' });
    expect(publicUpstream.received).toHaveLength(1);
    expect(privateUpstream.received).toHaveLength(0);
  });

  it('refuses the private route without a key: 401 problem+json, WWW-Authenticate, upstream untouched', async () => {
    await startSeed();
    const res = await fetch(`${host.url}/api/private/orders`);
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('www-authenticate')).toBeTruthy();
    const body = await json(res);
    expect(body).toMatchObject({
      type: 'about:blank',
      title: 'Unauthorized',
      status: 401,
      code: 'unauthorized',
    });
    expect(body.requestId).toBe(res.headers.get('x-request-id'));
    expect(privateUpstream.received).toHaveLength(0);
  });

  it('refuses a wrong key with 401 and never echoes it', async () => {
    await startSeed();
    const wrong = 'wrong-key-that-must-not-leak';
    const res = await fetch(`${host.url}/api/private/orders`, { headers: { 'x-api-key': wrong } });
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(text).not.toContain(wrong);
    expect(JSON.stringify(events)).not.toContain(wrong);
    expect(privateUpstream.received).toHaveLength(0);
  });

  it('forwards an authenticated request as the consumer, without the key, and drops client-sent consumer headers', async () => {
    await startSeed();
    const res = await fetch(`${host.url}/api/private/orders?page=2`, {
      headers: { 'x-api-key': BOB_KEY, 'x-consumer-id': 'admin', 'x-request-id': 'req-123' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-123');
    const seen = privateUpstream.received[0];
    expect(seen?.url).toBe('/orders?page=2');
    expect(seen?.headers['x-consumer-id']).toBe('bob');
    expect(seen?.headers['x-api-key']).toBeUndefined();
    expect(seen?.headers['x-request-id']).toBe('req-123');
    expect(seen?.headers['x-forwarded-for']).toBeTruthy();
    expect(JSON.stringify(events)).not.toContain(BOB_KEY);
    expect(events.some((e) => e.type === 'auth.succeeded' && e.consumerId === 'bob')).toBe(true);
  });

  it('limits the private route: the 6th request in a window is 429 with Retry-After and draft headers', async () => {
    await startSeed();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 6; i++) {
      last = await fetch(`${host.url}/api/private/orders`, { headers: { 'x-api-key': ALICE_KEY } });
      statuses.push(last.status);
      if (i < 5) await last.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(privateUpstream.received).toHaveLength(5);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(last?.headers.get('ratelimit-policy')).toBe('"5-in-1m";q=5;w=60');
    expect(last?.headers.get('ratelimit')).toMatch(/^"5-in-1m";r=0;t=\d+$/);
    const body = last ? await json(last) : undefined;
    expect(body).toMatchObject({
      status: 429,
      code: 'rate_limited',
      'violated-policies': ['5-in-1m'],
    });
    // Bob has his own budget.
    const bob = await fetch(`${host.url}/api/private/orders`, {
      headers: { 'x-api-key': BOB_KEY },
    });
    expect(bob.status).toBe(200);
    // The gateway's default policy is one limiter for every route; its events name the route.
    expect(events.filter((e) => e.type === 'ratelimit.refused')).toEqual([
      expect.objectContaining({ route: 'private', policies: ['5-in-1m'], consumerId: 'alice' }),
    ]);
  });

  it('enforces per-route scopes with 403', async () => {
    await startSeed();
    const alice = await fetch(`${host.url}/api/orders/7`, { headers: { 'x-api-key': ALICE_KEY } });
    expect(alice.status).toBe(200);
    const bob = await fetch(`${host.url}/api/orders/7`, { headers: { 'x-api-key': BOB_KEY } });
    expect(bob.status).toBe(403);
    expect((await json(bob)).code).toBe('forbidden');
    expect(privateUpstream.received.map((r) => r.url)).toEqual(['/orders/7']);
  });

  it('answers a wrong method with 405 and Allow, and leaves unknown paths to the host app', async () => {
    await startSeed();
    const wrongMethod = await fetch(`${host.url}/api/public/x`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toContain('GET');
    expect((await json(wrongMethod)).code).toBe('method_not_allowed');
    const port = Number(new URL(host.url).port);
    const unknown = await rawGet(port, '/api/nowhere/../else', ['X-Request-Id: not valid!']);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toBe('host 404');
    // Untouched: no request id made up, echoed or rewritten, no req.gateway, the URL as it came.
    expect(unknown.headers['x-request-id']).toBeUndefined();
    expect(unknown.headers['x-saw']).toBe(
      JSON.stringify({ gateway: false, requestId: 'not valid!', url: '/api/nowhere/../else' }),
    );
    const own = await fetch(`${host.url}/own`);
    expect(await own.text()).toBe('host route');
    expect(publicUpstream.received).toHaveLength(0);
    expect(privateUpstream.received).toHaveLength(0);
  });

  it('answers unknown paths with a 404 problem when fallthrough is false', async () => {
    await startSeed({ fallthrough: false });
    const res = await fetch(`${host.url}/api/nowhere`);
    expect(res.status).toBe(404);
    expect((await json(res)).code).toBe('not_found');
  });

  it('refuses traversal and encoded slashes with 400 before anything is forwarded', async () => {
    await startSeed();
    for (const target of [
      '/api/public/a%2Fb',
      '/api/public/a%5cb',
      '/api/public/%zz',
      '/api/../../etc/passwd',
    ]) {
      const res = await rawGet(host.port, target);
      expect(res.status, target).toBe(400);
      expect(res.headers['content-type'], target).toBe('application/problem+json');
    }
    expect(publicUpstream.received).toHaveLength(0);
    expect(privateUpstream.received).toHaveLength(0);
  });

  it('judges a dot-segment path where it lands: /public/../private is the private route, so it needs a key', async () => {
    await startSeed();
    for (const target of ['/api/public/../private/orders', '/api/public/%2e%2E/private/orders']) {
      const res = await rawGet(host.port, target);
      expect(res.status, target).toBe(401);
    }
    expect(publicUpstream.received).toHaveLength(0);
    expect(privateUpstream.received).toHaveLength(0);
    const res = await rawGet(host.port, '/api/public/%2e%2E/private/orders', [
      `x-api-key: ${ALICE_KEY}`,
    ]);
    expect(res.status).toBe(200);
    expect(privateUpstream.received.map((r) => r.url)).toEqual(['/orders']);
  });

  it('judges the path as it forwards it: /public/./x/../y reaches the public upstream as /y', async () => {
    await startSeed();
    const res = await rawGet(host.port, '/api/public/./x/../y//z');
    expect(res.status).toBe(200);
    expect(publicUpstream.received.map((r) => r.url)).toEqual(['/y/z']);
  });

  it('maps a refused upstream to 502 and a slow one to 504, as problems', async () => {
    const port = await closedPort();
    const slow = await startUpstream();
    slow.handle((_req, res) => {
      setTimeout(() => res.end('late'), 1_500).unref();
    });
    try {
      await startSeed({
        routes: [
          { path: '/down', target: `http://127.0.0.1:${port}`, auth: false, rateLimit: false },
          { path: '/slow', target: slow.url, auth: false, rateLimit: false, timeout: '300ms' },
        ],
      });
      const down = await fetch(`${host.url}/api/down`);
      expect(down.status).toBe(502);
      expect((await json(down)).code).toBe('bad_gateway');
      const started = Date.now();
      const late = await fetch(`${host.url}/api/slow`);
      expect(late.status).toBe(504);
      expect((await json(late)).code).toBe('gateway_timeout');
      expect(Date.now() - started).toBeLessThan(1_400);
      expect(slow.received).toHaveLength(1);
      expect(events.some((e) => e.type === 'proxy.error')).toBe(true);
    } finally {
      await slow.close();
    }
  });

  it('lets errorResponse replace the body format while keeping status and headers', async () => {
    await startSeed({
      errorResponse: (problem, _req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(`${problem.status} ${problem.code}`);
      },
    });
    const res = await fetch(`${host.url}/api/private/orders`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBeTruthy();
    expect(await res.text()).toBe('401 unauthorized');
  });
});

describe('createGateway configuration', () => {
  it('throws GatewayConfigError naming the field, synchronously', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ routes: [] }, /^routes: /],
      [{ routes: [{ path: '/x', target: 'ftp://nope' }] }, /^routes\[0\]\.target: /],
      [
        {
          routes: [
            { path: '/x', target: 'http://127.0.0.1:1' },
            { path: '/y', target: 'nope' },
          ],
        },
        /^routes\[1\]\.target: /,
      ],
      [
        { routes: [{ path: '/x', target: 'http://127.0.0.1:1', auth: true }] },
        /^routes\[0\]\.auth: /,
      ],
      [
        {
          rateLimit: { limit: 0, window: '1m' },
          routes: [{ path: '/x', target: 'http://127.0.0.1:1' }],
        },
        /^rateLimit\.limit: /,
      ],
      [
        {
          rateLimit: { limit: 5, window: 'soon' },
          routes: [{ path: '/x', target: 'http://127.0.0.1:1' }],
        },
        /^rateLimit\.window: /,
      ],
      [
        { routes: [{ path: '/x', target: 'http://127.0.0.1:1' }], fallthrough: 'no' },
        /^fallthrough: /,
      ],
      [{ routes: [{ path: '/x', target: 'http://127.0.0.1:1' }], colour: 'red' }, /^colour: /],
      [
        {
          auth: { apiKey: { keys: [{ id: 'a' }] } },
          routes: [{ path: '/x', target: 'http://127.0.0.1:1' }],
        },
        /^auth\.apiKey\.keys\[0\]/,
      ],
    ];
    for (const [config, message] of bad) {
      let thrown: unknown;
      try {
        createGateway(config as Parameters<typeof createGateway>[0]);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(config)).toBeInstanceOf(GatewayConfigError);
      expect((thrown as Error).message, JSON.stringify(config)).toMatch(message);
    }
  });

  it('never echoes a configured key in a configuration error', () => {
    let thrown: unknown;
    try {
      createGateway({
        auth: {
          apiKey: {
            keys: [
              { id: 'a', key: 'dup-secret-key-1' },
              { id: 'b', key: 'dup-secret-key-1' },
            ],
          },
        },
        routes: [{ path: '/x', target: 'http://127.0.0.1:1' }],
      });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(GatewayConfigError);
    expect(String((thrown as Error).message)).not.toContain('dup-secret-key-1');
  });
});

describe('createGateway on a plain node:http server', () => {
  it('authenticates, limits by the socket address and proxies without Express', async () => {
    const { createServer } = await import('node:http');
    const upstream = await startUpstream();
    const events: GatewayEvent[] = [];
    const gateway = createGateway({
      auth: { apiKey: { keys: [{ id: 'alice', key: ALICE_KEY }] } },
      rateLimit: { limit: 2, window: '1m', key: 'ip' },
      routes: [{ path: '/svc{/*path}', target: upstream.url, rewrite: '/{*path}' }],
      onEvent: (event) => events.push(event),
    });
    const server = createServer((req, res) =>
      gateway(req, res, (err) => {
        res.statusCode = err ? 500 : 404;
        res.end('not the gateway');
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      expect((await fetch(`${base}/svc/a`)).status).toBe(401);
      const ok = await fetch(`${base}/svc/a?b=1`, { headers: { 'x-api-key': ALICE_KEY } });
      expect(ok.status).toBe(200);
      expect(upstream.received[0]?.url).toBe('/a?b=1');
      expect(upstream.received[0]?.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(upstream.received[0]?.headers['x-consumer-id']).toBe('alice');
      expect((await fetch(`${base}/svc/a`, { headers: { 'x-api-key': ALICE_KEY } })).status).toBe(
        200,
      );
      const limited = await fetch(`${base}/svc/a`, { headers: { 'x-api-key': ALICE_KEY } });
      expect(limited.status).toBe(429);
      expect(upstream.received).toHaveLength(2);
      const other = await fetch(`${base}/elsewhere`);
      expect(await other.text()).toBe('not the gateway');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
      await upstream.close();
    }
  });
});
