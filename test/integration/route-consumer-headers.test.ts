// route({ consumerHeaders }) (SPEC §8): a route used without authentication strips client-sent
// copies of custom consumer header names; what an authenticate() before it set is kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from '../../src/auth/authenticate.js';
import { createGateway } from '../../src/gateway.js';
import { route } from '../../src/route/route.js';
import type { GatewayMiddleware } from '../../src/types.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawGet } from '../helpers/raw-http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const KEY = 'route-consumer-headers-key-0123456789';
const NAMES = { id: 'X-User', scopes: 'X-User-Scopes', type: 'X-User-Kind' };
const FORGED = { 'x-user': 'admin', 'x-user-scopes': 'everything', 'x-user-kind': 'apiKey' };

describe.each(EXPRESS_MAJORS)('route({ consumerHeaders }) on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  const closers: GatewayMiddleware[] = [];
  const add = (m: GatewayMiddleware): GatewayMiddleware => {
    closers.push(m);
    return m;
  };

  beforeAll(async () => {
    upstream = await startUpstream();
    host = await startHost((app) => {
      // No authentication: the route alone must strip forged copies of the custom names.
      app.use(
        '/public',
        add(route({ path: '/{*p}', target: upstream.url, consumerHeaders: NAMES })),
      );
      // Without the option: the default names.
      app.use('/plain', add(route({ path: '/{*p}', target: upstream.url })));
      // authenticate() with the same names, then route(): the principal's headers are kept.
      app.use(
        '/private',
        add(
          authenticate({
            apiKey: { keys: [{ id: 'alice', key: KEY, scopes: ['read'] }] },
            consumerHeaders: NAMES,
          }),
        ),
        add(route({ path: '/{*p}', target: upstream.url, consumerHeaders: NAMES })),
      );
    }, major);
  });
  afterAll(async () => {
    await Promise.all(closers.map((m) => m.close()));
    await host.close();
    await upstream.close();
  });

  it('without authentication, client copies of the custom names never reach the upstream', async () => {
    const res = await fetch(`${host.url}/public/a`, { headers: { ...FORGED, 'x-other': 'kept' } });
    expect(res.status).toBe(200);
    const seen = upstream.received.at(-1)!;
    expect(seen.url).toBe('/a');
    expect(seen.headers['x-user']).toBeUndefined();
    expect(seen.headers['x-user-scopes']).toBeUndefined();
    expect(seen.headers['x-user-kind']).toBeUndefined();
    expect(seen.headers['x-other']).toBe('kept');
  });

  it('the names replace the defaults, as in authenticate()', async () => {
    const forgedDefaults = { 'x-consumer-id': 'eve', 'x-consumer-type': 'jwt' };
    expect((await fetch(`${host.url}/public/a`, { headers: forgedDefaults })).status).toBe(200);
    expect(upstream.received.at(-1)?.headers['x-consumer-id']).toBe('eve');
    expect((await fetch(`${host.url}/plain/a`, { headers: forgedDefaults })).status).toBe(200);
    const seen = upstream.received.at(-1)!;
    expect(seen.headers['x-consumer-id']).toBeUndefined();
    expect(seen.headers['x-consumer-type']).toBeUndefined();
  });

  it('after authenticate(), the principal arrives under the custom names; forged copies do not', async () => {
    const res = await fetch(`${host.url}/private/a`, { headers: { ...FORGED, 'x-api-key': KEY } });
    expect(res.status).toBe(200);
    const seen = upstream.received.at(-1)!;
    expect(seen.headers['x-user']).toBe('alice');
    expect(seen.headers['x-user-scopes']).toBe('read');
    expect(seen.headers['x-user-kind']).toBe('apiKey');
    expect(seen.headers['x-api-key']).toBeUndefined();
  });

  it('naming the custom headers in Connection neither drops the principal nor lets a copy through (raw socket)', async () => {
    const authed = await rawGet(host.port, '/private/a', [
      `X-Api-Key: ${KEY}`,
      'Connection: close, X-User, X-User-Kind',
    ]);
    expect(authed.status).toBe(200);
    const kept = upstream.received.at(-1)!;
    expect(kept.headers['x-user']).toBe('alice');
    expect(kept.headers['x-user-kind']).toBe('apiKey');

    const anonymous = await rawGet(host.port, '/public/a', [
      'Connection: close, X-Other',
      'X-User: admin',
      'X-User-Kind: apiKey',
    ]);
    expect(anonymous.status).toBe(200);
    const stripped = upstream.received.at(-1)!;
    expect(stripped.headers['x-user']).toBeUndefined();
    expect(stripped.headers['x-user-kind']).toBeUndefined();
  });
});

describe('consumerHeaders in createGateway and validation', () => {
  it("gateway routes use auth.consumerHeaders; a route's own names are refused there", () => {
    expect(() =>
      createGateway({
        auth: { apiKey: { keys: [{ id: 'a', key: KEY }] }, consumerHeaders: NAMES },
        routes: [{ path: '/a', target: 'http://127.0.0.1:1', consumerHeaders: NAMES }],
      }),
    ).toThrow(/^routes\[0\]\.consumerHeaders: .*auth\.consumerHeaders/);
  });

  it('a gateway without auth strips the names its routes give', async () => {
    const upstream = await startUpstream();
    const gateway = createGateway({
      routes: [{ path: '/a', target: upstream.url, consumerHeaders: NAMES }],
    });
    const host = await startHost((app) => app.use(gateway));
    try {
      expect((await fetch(`${host.url}/a`, { headers: FORGED })).status).toBe(200);
      const seen = upstream.received[0]!;
      expect(seen.headers['x-user']).toBeUndefined();
      expect(seen.headers['x-user-kind']).toBeUndefined();
    } finally {
      await host.close();
      await gateway.close();
      await upstream.close();
    }
  });

  it('refuses invalid or clashing names, naming the field', () => {
    expect(() =>
      route({ path: '/a', target: 'http://127.0.0.1:1', consumerHeaders: { id: 'bad name' } }),
    ).toThrow(/^consumerHeaders\.id: must be a valid HTTP header name/);
    expect(() =>
      route({
        path: '/a',
        target: 'http://127.0.0.1:1',
        consumerHeaders: { type: 'x-consumer-id' },
      }),
    ).toThrow(/^consumerHeaders: id, scopes and type must be three different header names/);
    expect(() =>
      route({
        path: '/a',
        target: 'http://127.0.0.1:1',
        consumerHeaders: { name: 'x' } as unknown as { id: string },
      }),
    ).toThrow(/consumerHeaders/);
  });
});
