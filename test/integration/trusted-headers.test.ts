// Issue 11 item 5 (SPEC §8, trusted headers): client-sent headers that upstreams trust for routing or
// identity (X-Original-URL, True-Client-IP, X-Forwarded-Ssl, …) were passed through. Now they are
// removed, and the only forwarding headers an upstream receives are the gateway's own
// X-Forwarded-For, -Proto and -Host. Raw sockets, so header names go out in odd cases and repeated.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type GatewayMiddleware, route } from '../../src/index.js';
import { CLIENT_ONLY_HEADERS } from '../../src/route/forward-headers.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawMessage, rawRequest } from '../helpers/raw-http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** Each as a client could send it, with a value an upstream would act on. */
const TRUSTED: Array<[string, string]> = [
  ['X-Original-URL', '/admin/delete-all'],
  ['X-Rewrite-URL', '/admin'],
  ['X-Override-URL', '/admin'],
  ['X-HTTP-Method-Override', 'DELETE'],
  ['X-HTTP-Method', 'DELETE'],
  ['X-Method-Override', 'DELETE'],
  ['X-Real-IP', '10.0.0.1'],
  ['True-Client-IP', '10.0.0.1'],
  ['X-Client-IP', '10.0.0.1'],
  ['CF-Connecting-IP', '10.0.0.1'],
  ['Forwarded', 'for=10.0.0.1;proto=https;host=admin.example.com'],
  ['X-Forwarded-Port', '443'],
  ['X-Forwarded-Prefix', '/admin'],
  ['X-Forwarded-Ssl', 'on'],
  ['X-Forwarded-Scheme', 'https'],
  ['X-Forwarded-Server', 'admin.example.com'],
  // Not named by SPEC §8, but X-Forwarded-* all the same: identity for oauth2-proxy and Envoy.
  ['X-Forwarded-User', 'admin'],
  ['X-Forwarded-Email', 'admin@example.com'],
  ['X-Forwarded-Client-Cert', 'By=spiffe://admin;URI=spiffe://admin'],
  ['X-Forwarded-Uri', '/admin'],
];

function requestWith(path: string, lines: string[]): Buffer {
  return rawMessage('GET', path, ['gw.example:8080'], lines);
}

describe.each(EXPRESS_MAJORS)('trusted headers on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  const middlewares: GatewayMiddleware[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    host = await startHost((app) => {
      const gateway = createGateway({ routes: [{ path: '/echo', target: upstream.url }] });
      const standalone = route({ path: '/echo', target: upstream.url });
      // The operator may still set one deliberately.
      const setting = route({
        path: '/set',
        target: upstream.url,
        headers: { request: { set: { 'X-Forwarded-Prefix': '/api', 'X-Real-IP': '192.0.2.1' } } },
      });
      middlewares.push(gateway, standalone, setting);
      app.use('/gw', gateway);
      app.use('/rt', standalone, setting);
    }, major);
  });

  afterAll(() => closeAll(middlewares, host, upstream));

  afterEach(() => {
    upstream.received.length = 0;
  });

  it('lists every header SPEC §8 names', () => {
    for (const [name] of TRUSTED.slice(0, 16)) {
      expect(CLIENT_ONLY_HEADERS, name).toContain(name.toLowerCase());
    }
  });

  describe.each(['/gw', '/rt'])('through %s', (mount) => {
    it('removes every trusted header, in any case and repeated; keeps the rest', async () => {
      const lines = TRUSTED.flatMap(([name, value]) => [
        `${name}: ${value}`,
        `${name.toUpperCase()}: ${value}`,
        `${name.toLowerCase()}: ${value}`,
      ]);
      const response = await rawRequest(
        host.port,
        requestWith(`${mount}/echo`, [
          ...lines,
          'X-Forwarded-For: 6.6.6.6',
          'X-Forwarded-Proto: https',
          'X-Forwarded-Host: admin.example.com',
          'X-End-To-End: kept',
          'X-Forwarded: not-a-prefix-match',
        ]),
      );
      expect(response.status).toBe(200);
      expect(upstream.received).toHaveLength(1);
      const seen = upstream.received[0]?.headers ?? {};
      for (const [name] of TRUSTED) expect(seen[name.toLowerCase()], name).toBeUndefined();
      // The gateway's own forwarding headers, with its own values, and no other.
      const forwarding = Object.keys(seen)
        .filter((name) => name.startsWith('x-forwarded-') || name === 'forwarded')
        .sort();
      expect(forwarding).toEqual(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);
      expect(seen['x-forwarded-for']).toBe('127.0.0.1');
      expect(seen['x-forwarded-proto']).toBe('http');
      expect(seen['x-forwarded-host']).toBe('gw.example:8080');
      expect(seen['x-end-to-end']).toBe('kept');
      expect(seen['x-forwarded']).toBe('not-a-prefix-match');
      // Nothing of the client's values anywhere in what the upstream received.
      const raw = upstream.received[0]?.rawHeaders.join('\n') ?? '';
      expect(raw).not.toMatch(/admin|10\.0\.0\.1|6\.6\.6\.6|DELETE/);
    });
  });

  it("sends what the route's headers.request.set says, never the client's copy", async () => {
    const response = await rawRequest(
      host.port,
      requestWith('/rt/set', ['X-Forwarded-Prefix: /evil', 'X-Real-IP: 10.0.0.1']),
    );
    expect(response.status).toBe(200);
    const seen = upstream.received[0]?.headers ?? {};
    expect(seen['x-forwarded-prefix']).toBe('/api');
    expect(seen['x-real-ip']).toBe('192.0.2.1');
    expect(upstream.received[0]?.rawHeaders.join('\n')).not.toMatch(/evil|10\.0\.0\.1/);
  });
});

describe.each(EXPRESS_MAJORS)('consumer headers named X-Forwarded-* on Express %i', (major) => {
  const KEY = 'alice-secret-key-0123456789';
  let upstream: Upstream;
  let host: Host;
  let gateway: GatewayMiddleware;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = createGateway({
      auth: {
        apiKey: { keys: [{ id: 'alice', key: KEY, scopes: ['read'] }] },
        consumerHeaders: { id: 'X-Forwarded-User', scopes: 'X-Forwarded-Groups' },
      },
      routes: [
        { path: '/me', target: upstream.url },
        { path: '/anon', target: upstream.url, auth: false },
      ],
    });
    host = await startHost((app) => app.use(gateway), major);
  });

  afterAll(async () => {
    await gateway.close();
    await host.close();
    await upstream.close();
  });

  afterEach(() => {
    upstream.received.length = 0;
  });

  it("keeps the gateway's own, replacing the client's copy", async () => {
    const response = await rawRequest(
      host.port,
      requestWith('/me', [
        `x-api-key: ${KEY}`,
        'X-Forwarded-User: admin',
        'X-Forwarded-Email: a@b',
      ]),
    );
    expect(response.status).toBe(200);
    const seen = upstream.received[0]?.headers ?? {};
    expect(seen['x-forwarded-user']).toBe('alice');
    expect(seen['x-forwarded-groups']).toBe('read');
    expect(seen['x-forwarded-email']).toBeUndefined();
  });

  it("drops the client's copy when no principal was authenticated", async () => {
    const response = await rawRequest(host.port, requestWith('/anon', ['X-Forwarded-User: admin']));
    expect(response.status).toBe(200);
    expect(upstream.received[0]?.headers['x-forwarded-user']).toBeUndefined();
    expect(upstream.received[0]?.rawHeaders.join('\n')).not.toMatch(/admin/);
  });
});
