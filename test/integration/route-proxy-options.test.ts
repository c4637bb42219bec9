import {
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import type { Plugin } from 'http-proxy-middleware';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { routeCollector } from '../helpers/route-set.js';
import { closedPort, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * Routes with `proxy` pass-through options forward through http-proxy-middleware 4: its options
 * take effect (cookie and redirect rewriting, selfHandleResponse), the route's `proxy.on`
 * listeners and `plugins` run, and the gateway's own behaviour around it holds (headers, 502,
 * 504, events).
 */
describe.each(EXPRESS_MAJORS)('route() proxy pass-through options on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  const events: GatewayEvent[] = [];
  const middlewares: GatewayMiddleware[] = [];
  const plugged = { servers: 0, proxyRes: 0 };
  const counting: Plugin = (server) => {
    plugged.servers++;
    server.on('proxyRes', () => {
      plugged.proxyRes++;
    });
  };

  beforeAll(async () => {
    upstream = await startUpstream();
    upstream.handle((req, res, received) => {
      if (req.url === '/login') {
        res.writeHead(302, {
          location: `${upstream.url}/home`,
          'set-cookie': ['sid=1; Domain=internal.example; Path=/', 'theme=dark; Path=/app'],
        });
        res.end();
        return;
      }
      if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 1_000).unref();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: received.url, headers: received.headers }));
    });
    const dead = await closedPort();
    const add = routeCollector(events, middlewares);
    host = await startHost((app) => {
      app.use(
        add({
          name: 'rewriting',
          path: '/{*rest}',
          host: 'rewrite.example',
          target: upstream.url,
          timeout: '300ms',
          proxy: {
            cookieDomainRewrite: 'gw.example',
            cookiePathRewrite: { '/app': '/ui' },
            hostRewrite: 'gw.example:8443',
            plugins: [counting],
            on: {
              proxyReq: (proxyReq) => {
                proxyReq.setHeader('x-from-hook', 'yes');
              },
            },
          },
        }),
      );
      app.use(
        add({
          name: 'intercepting',
          path: '/intercept',
          target: upstream.url,
          proxy: {
            selfHandleResponse: true,
            on: {
              proxyRes: (proxyRes: IncomingMessage, _req: IncomingMessage, res: ServerResponse) => {
                let body = '';
                proxyRes.on('data', (c: Buffer) => {
                  body += c.toString();
                });
                proxyRes.on('end', () => {
                  res.setHeader('content-type', 'text/plain');
                  res.end(`intercepted ${JSON.parse(body).url}`);
                });
              },
            },
          },
        }),
      );
      app.use(
        add({
          name: 'dead',
          path: '/dead',
          target: `http://127.0.0.1:${dead}`,
          proxy: { secure: true },
        }),
      );
    }, major);
  });

  afterAll(() => closeAll(middlewares, host, upstream));

  beforeEach(() => {
    events.length = 0;
    upstream.received.length = 0;
  });

  /** A GET with the Host the rewriting route is scoped to (fetch cannot set Host). */
  const get = (
    path: string,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> =>
    new Promise((resolve, reject) => {
      request(
        `${host.url}${path}`,
        { headers: { host: 'rewrite.example' }, agent: false },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      )
        .on('error', reject)
        .end();
    });

  it('rewrites redirects and cookie domains and paths, as http-proxy-middleware does', async () => {
    const res = await get('/login');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('http://gw.example:8443/home');
    expect(res.headers['set-cookie']).toEqual([
      'sid=1; Domain=gw.example; Path=/',
      'theme=dark; Path=/ui',
    ]);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'proxy.response',
        route: 'rewriting',
        status: 302,
        attempt: 1,
      }),
    ]);
  });

  it('runs the route’s proxy.on listeners and plugins, around the gateway’s own headers', async () => {
    const before = plugged.proxyRes;
    const res = await get('/who?x=1');
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe('/who?x=1');
    expect(seen.headers['x-from-hook']).toBe('yes');
    expect(seen.headers['x-forwarded-host']).toBe('rewrite.example');
    expect(seen.headers['x-request-id']).toBe(res.headers['x-request-id']);
    expect(seen.headers.host).toBe(new URL(upstream.url).host);
    expect(plugged.proxyRes).toBe(before + 1);
    // One http-proxy-middleware instance for the route (a second only with websocket: true).
    expect(plugged.servers).toBe(1);
  });

  it('keeps the route’s timeout: 504 gateway_timeout', async () => {
    const res = await get('/slow');
    expect(res.status).toBe(504);
    expect((JSON.parse(res.body) as { code: string }).code).toBe('gateway_timeout');
    expect(events).toEqual([
      expect.objectContaining({ type: 'proxy.error', route: 'rewriting', code: 'gateway_timeout' }),
    ]);
  });

  it('answers 502 for a refused connection', async () => {
    const res = await fetch(`${host.url}/dead`);
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(events).toEqual([
      expect.objectContaining({ type: 'proxy.error', route: 'dead', error: 'ECONNREFUSED' }),
    ]);
  });

  it('lets selfHandleResponse hand the response to the route’s own listener', async () => {
    const res = await fetch(`${host.url}/intercept`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('intercepted /intercept');
    expect(upstream.received.map((r) => r.url)).toEqual(['/intercept']);
  });
});
