import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { route } from '../../src/route/route.js';
import type { GatewayMiddleware } from '../../src/types.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawGet, rawRequest } from '../helpers/raw-http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

function request(
  port: number,
  lines: string[],
  body = '',
): Promise<Awaited<ReturnType<typeof rawRequest>>> {
  return rawRequest(
    port,
    `${[...lines, `Host: 127.0.0.1:${port}`, 'Connection: close', '', ''].join('\r\n')}${body}`,
  );
}

describe.each(EXPRESS_MAJORS)('route() headers on Express %i', (major) => {
  let upstream: Upstream;
  let plain: Host;
  let trusting: Host;
  const closers: GatewayMiddleware[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    const mount = (app: { use(path: string, m: unknown): void }): void => {
      const add = (m: GatewayMiddleware): GatewayMiddleware => {
        closers.push(m);
        return m;
      };
      app.use('/api', add(route({ path: '/echo{/*p}', target: upstream.url })));
      app.use(
        '/api',
        add(
          route({
            path: '/rules',
            target: upstream.url,
            headers: {
              request: {
                set: { 'X-Added': 'yes', 'X-Overridden': 'gateway' },
                remove: ['X-Drop-Me'],
              },
              response: { set: { 'X-Gateway': 'portcullis' }, remove: ['X-Internal-Version'] },
            },
          }),
        ),
      );
      app.use('/api', add(route({ path: '/preserve', target: upstream.url, preserveHost: true })));
    };
    plain = await startHost(mount, major);
    trusting = await startHost((app) => {
      app.set('trust proxy', 'loopback');
      mount(app);
    }, major);
  });

  afterAll(async () => {
    await Promise.all(closers.map((m) => m.close()));
    await plain.close();
    await trusting.close();
    await upstream.close();
  });

  afterEach(() => {
    upstream.received.length = 0;
    upstream.handle((_req, res, received) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: received.url }));
    });
  });

  it("replaces a client's X-Forwarded-* when Express trusts no proxy", async () => {
    const res = await fetch(`${plain.url}/api/echo`, {
      headers: {
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
      },
    });
    expect(res.status).toBe(200);
    const seen = upstream.received[0]?.headers;
    expect(seen?.['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen?.['x-forwarded-proto']).toBe('http');
    expect(seen?.['x-forwarded-host']).toBe(`127.0.0.1:${plain.port}`);
  });

  it('keeps the chain Express trusts and drops what the client added beyond it', async () => {
    await fetch(`${trusting.url}/api/echo`, {
      headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.7', 'x-forwarded-proto': 'https' },
    });
    const seen = upstream.received[0]?.headers;
    // trust proxy 'loopback': 127.0.0.1 vouches for 203.0.113.7, who is not trusted to vouch for 6.6.6.6.
    expect(seen?.['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen?.['x-forwarded-proto']).toBe('https');
  });

  it('keeps a valid X-Request-Id, replaces an invalid one, and echoes it', async () => {
    const kept = await fetch(`${plain.url}/api/echo`, {
      headers: { 'x-request-id': 'abc-123:X.y_z' },
    });
    expect(kept.headers.get('x-request-id')).toBe('abc-123:X.y_z');
    expect(upstream.received[0]?.headers['x-request-id']).toBe('abc-123:X.y_z');
    const replaced = await fetch(`${plain.url}/api/echo`, {
      headers: { 'x-request-id': 'bad id!' },
    });
    const id = replaced.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(upstream.received[1]?.headers['x-request-id']).toBe(id);
  });

  it('drops hop-by-hop, Connection-named, method-override and consumer headers on the way up', async () => {
    const res = await request(plain.port, [
      'GET /api/echo HTTP/1.1',
      'Keep-Alive: timeout=5',
      'X-Secret: hop',
      'Connection: close, X-Secret',
      'TE: trailers',
      'Trailer: X-Checksum',
      'Proxy-Authorization: Basic Zm9vOmJhcg==',
      'Proxy-Connection: keep-alive',
      // Any other token is refused with 400 (upgrade-tokens.test.ts); this one is only dropped.
      'Upgrade: websocket',
      'X-HTTP-Method-Override: DELETE',
      'X-Consumer-Id: admin',
      'X-Consumer-Scopes: everything',
      'Forwarded: for=6.6.6.6',
      'X-End-To-End: kept',
    ]);
    expect(res.status).toBe(200);
    const seen = upstream.received[0];
    expect(seen?.method).toBe('GET');
    for (const name of [
      'keep-alive',
      'x-secret',
      'te',
      'trailer',
      'proxy-authorization',
      'proxy-connection',
      'upgrade',
      'x-http-method-override',
      'x-consumer-id',
      'x-consumer-scopes',
      'forwarded',
    ]) {
      expect(seen?.headers[name], name).toBeUndefined();
    }
    expect(seen?.headers.connection).not.toMatch(/x-secret/i);
    expect(seen?.headers['x-end-to-end']).toBe('kept');
  });

  it('drops hop-by-hop and Connection-named headers on the way down', async () => {
    upstream.handle((_req, res) => {
      res.setHeader('Connection', 'X-Internal');
      res.setHeader('X-Internal', 'upstream secret');
      res.setHeader('Keep-Alive', 'timeout=99');
      res.setHeader('Proxy-Authenticate', 'Basic realm="up"');
      res.setHeader('Upgrade', 'h2');
      res.setHeader('Trailer', 'X-Sum');
      res.setHeader('X-Request-Id', 'upstream-own-id');
      res.setHeader('X-Visible', 'yes');
      res.end('body');
    });
    const res = await rawGet(plain.port, '/api/echo', ['X-Request-Id: client-id']);
    expect(res.status).toBe(200);
    expect(res.body).toBe('body');
    for (const name of ['x-internal', 'keep-alive', 'proxy-authenticate', 'upgrade', 'trailer']) {
      expect(res.headers[name], name).toBeUndefined();
    }
    expect(res.headers.connection).toBe('close');
    expect(res.headers['x-request-id']).toBe('client-id');
    expect(res.headers['x-visible']).toBe('yes');
    expect(upstream.received).toHaveLength(1);
  });

  it('applies headers.request and headers.response set/remove', async () => {
    upstream.handle((_req, res) => {
      res.setHeader('X-Internal-Version', '1.2.3');
      res.end('ok');
    });
    const res = await fetch(`${plain.url}/api/rules`, {
      headers: { 'x-drop-me': 'secret', 'x-overridden': 'client' },
    });
    expect(res.headers.get('x-gateway')).toBe('portcullis');
    expect(res.headers.get('x-internal-version')).toBeNull();
    const seen = upstream.received[0]?.headers;
    expect(seen?.['x-added']).toBe('yes');
    expect(seen?.['x-overridden']).toBe('gateway');
    expect(seen?.['x-drop-me']).toBeUndefined();
  });

  it('sends the Host the client sent with preserveHost, the target host otherwise', async () => {
    await request(
      plain.port,
      ['GET /api/preserve HTTP/1.1'].map((l) => l),
    );
    expect(upstream.received[0]?.headers.host).toBe(`127.0.0.1:${plain.port}`);
    await fetch(`${plain.url}/api/echo`);
    expect(upstream.received[1]?.headers.host).toBe(`127.0.0.1:${upstream.port}`);
  });

  it('never lets Connection remove the framing of a body', async () => {
    const body = 'x'.repeat(1000);
    const res = await request(
      plain.port,
      [
        'POST /api/echo HTTP/1.1',
        'Content-Type: text/plain',
        `Content-Length: ${body.length}`,
        'X-A: 1',
      ].concat([]),
      body,
    );
    expect(res.status).toBe(200);
    const chunked = await rawRequest(
      plain.port,
      [
        'DELETE /api/echo/x HTTP/1.1',
        `Host: 127.0.0.1:${plain.port}`,
        'Connection: close, content-length, transfer-encoding',
        'Transfer-Encoding: chunked',
        '',
        '5',
        'hello',
        '0',
        '',
        '',
      ].join('\r\n'),
    );
    expect(chunked.status).toBe(200);
    expect(upstream.received.map((r) => [r.method, r.body.toString()])).toEqual([
      ['POST', body],
      ['DELETE', 'hello'],
    ]);
  });
});
