import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { route } from '../../src/route/route.js';
import type { GatewayEvent, GatewayMiddleware, GatewayRequest } from '../../src/types.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawGet, rawRequest } from '../helpers/raw-http.js';
import { sawUntouched } from '../helpers/saw-untouched.js';
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js';

describe.each(EXPRESS_MAJORS)('route() on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  const events: GatewayEvent[] = [];
  const middlewares: GatewayMiddleware[] = [];
  let deadPort: number;
  let slow: Upstream;
  const seenRoutes: unknown[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    deadPort = await closedPort();
    slow = await startUpstream();
    slow.handle((_req, res) => {
      setTimeout(() => res.end('late'), 1_000);
    });
    const onEvent = (e: GatewayEvent): void => {
      events.push(e);
    };
    const add = (m: GatewayMiddleware): GatewayMiddleware => {
      middlewares.push(m);
      return m;
    };
    host = await startHost((app) => {
      app.use(
        '/api',
        add(
          route({
            name: 'svc',
            path: '/svc{/*path}',
            target: `${upstream.url}/base`,
            rewrite: '/{*path}',
            methods: ['GET', 'POST'],
            onEvent,
          }),
        ),
      );
      app.use('/api', add(route({ path: '/plain/*rest', target: upstream.url, onEvent })));
      app.use(
        '/api',
        add(
          route({
            name: 'secret-target',
            path: '/users/:id{/*rest}',
            target: `http://svc:pa%20ss@127.0.0.1:${upstream.port}`,
            onEvent,
            proxy: {
              on: {
                proxyReq: (_proxyReq, req) => {
                  seenRoutes.push((req as GatewayRequest).gateway?.route);
                },
              },
            },
          }),
        ),
      );
      app.use(
        '/api',
        add(route({ path: '/only-host', host: '*.example.com', target: upstream.url })),
      );
      app.use(
        '/api',
        add(route({ path: '/down', target: `http://127.0.0.1:${deadPort}`, onEvent })),
      );
      app.use('/api', add(route({ path: '/slow', target: slow.url, timeout: '300ms', onEvent })));
      app.use(sawUntouched);
    }, major);
    return async () => {
      await slow.close();
    };
  });

  afterAll(() => closeAll(middlewares, host, upstream));

  afterEach(() => {
    upstream.received.length = 0;
    events.length = 0;
  });

  it('forwards a match relative to the mount point, rewritten, with the query kept byte for byte', async () => {
    const res = await fetch(`${host.url}/api/svc/a/b?x=1&y=%20z&x=2`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-upstream')).toBe('yes');
    expect(upstream.received).toHaveLength(1);
    expect(upstream.received[0]?.url).toBe('/base/a/b?x=1&y=%20z&x=2');
    expect(upstream.received[0]?.method).toBe('GET');
  });

  it('forwards the normalised relative path unchanged without a rewrite', async () => {
    const res = await rawGet(host.port, '/api/plain/%7Euser/./x/../y//z?q');
    expect(res.status).toBe(200);
    expect(upstream.received.map((r) => r.url)).toEqual(['/plain/~user/y/z?q']);
  });

  it('sets the Host of the target and X-Forwarded-Host to the Host received', async () => {
    await fetch(`${host.url}/api/plain/h`);
    const seen = upstream.received[0]?.headers;
    expect(seen?.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(seen?.['x-forwarded-host']).toBe(`127.0.0.1:${host.port}`);
    expect(seen?.['x-forwarded-proto']).toBe('http');
    expect(seen?.['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('calls next() untouched for an unmatched path, method or host', async () => {
    const unmatched = await rawGet(host.port, '/api/./nothing//x?q=1', [
      'X-Request-Id: not valid!',
    ]);
    expect(unmatched.status).toBe(404);
    expect(unmatched.body).toBe('host 404');
    // No request id made up, echoed or rewritten, no req.gateway, the URL as it came.
    expect(unmatched.headers['x-request-id']).toBeUndefined();
    expect(unmatched.headers['x-saw']).toBe(
      JSON.stringify({ gateway: false, requestId: 'not valid!', url: '/api/./nothing//x?q=1' }),
    );
    const wrongMethod = await fetch(`${host.url}/api/svc/a`, { method: 'DELETE' });
    expect(await wrongMethod.text()).toBe('host 404');
    const wrongHost = await rawGet(host.port, '/api/only-host', []);
    expect(wrongHost.body).toBe('host 404');
    expect(upstream.received).toHaveLength(0);
    const rightHost = await rawRequest(
      host.port,
      'GET /api/only-host HTTP/1.1\r\nHost: a.Example.com:9\r\nConnection: close\r\n\r\n',
    );
    expect(rightHost.status).toBe(200);
    expect(upstream.received).toHaveLength(1);
    // preserveHost is off: the upstream sees its own Host, the client's in X-Forwarded-Host.
    expect(upstream.received[0]?.headers['x-forwarded-host']).toBe('a.Example.com:9');
  });

  it('answers GET implicitly allowed HEAD', async () => {
    const res = await fetch(`${host.url}/api/svc/x`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(upstream.received[0]?.method).toBe('HEAD');
  });

  it('answers 400 for a path it may not forward, and the upstream sees nothing', async () => {
    const res = await rawGet(host.port, '/api/svc/a%2Fb');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(upstream.received).toHaveLength(0);
  });

  it('maps a refused connection to 502 bad_gateway as problem+json, with a proxy.error event', async () => {
    const res = await fetch(`${host.url}/api/down`);
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = (await res.json()) as { code: string; requestId: string };
    expect(body.code).toBe('bad_gateway');
    expect(res.headers.get('x-request-id')).toBe(body.requestId);
    const event = events.find((e) => e.type === 'proxy.error');
    expect(event).toMatchObject({ status: 502, code: 'bad_gateway', error: 'ECONNREFUSED' });
  });

  it('maps a slow upstream to 504 gateway_timeout', async () => {
    const started = Date.now();
    const res = await fetch(`${host.url}/api/slow`);
    expect(res.status).toBe(504);
    expect(((await res.json()) as { code: string }).code).toBe('gateway_timeout');
    expect(Date.now() - started).toBeLessThan(900);
    expect(slow.received.map((r) => r.url)).toEqual(['/slow']);
    slow.received.length = 0;
  });

  it('emits proxy.response with status, duration, target and route name, without credentials', async () => {
    await (await fetch(`${host.url}/api/svc/e`)).text();
    await new Promise((r) => setTimeout(r, 20));
    const event = events.find((e) => e.type === 'proxy.response');
    expect(event).toMatchObject({ status: 200, route: 'svc', target: `${upstream.url}/base` });
    expect(event && 'durationMs' in event ? event.durationMs : -1).toBeGreaterThanOrEqual(0);
  });

  it('sets req.gateway.route and uses target credentials upstream without ever showing them', async () => {
    const res = await fetch(`${host.url}/api/users/42/a/b?z`);
    expect(res.status).toBe(200);
    await res.text();
    await new Promise((r) => setTimeout(r, 20));
    expect(seenRoutes.at(-1)).toEqual({
      name: 'secret-target',
      path: '/users/42/a/b',
      params: { id: '42', rest: ['a', 'b'] },
      target: `http://127.0.0.1:${upstream.port}`,
    });
    expect(upstream.received[0]?.url).toBe('/users/42/a/b?z');
    expect(upstream.received[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from('svc:pa ss').toString('base64')}`,
    );
    expect(JSON.stringify(events)).not.toMatch(/pa%20ss|pa ss|svc:/);
    expect(events.length).toBeGreaterThan(0);
  });
});
