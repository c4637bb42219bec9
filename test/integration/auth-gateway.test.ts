// Authentication as createGateway composes it, through the real route proxy.
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type GatewayEvent, hashApiKey } from '../../src/index.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawGet } from '../helpers/raw-http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SECRET = 'gateway-hs-secret-long-enough-0123456789';
const KEY = 'gateway-auth-key-0123456789abcdef';

function token(sub: string, scope: string, expiresIn = '5m'): Promise<string> {
  return new SignJWT({ sub, scope })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(SECRET));
}

describe.each(EXPRESS_MAJORS)('per-route auth in createGateway on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  let gateway: ReturnType<typeof createGateway>;
  const events: GatewayEvent[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = createGateway({
      auth: {
        apiKey: {
          keys: [{ id: 'svc', hash: hashApiKey(KEY), scopes: ['orders:read'] }],
          query: 'api_key',
        },
        jwt: { algorithms: ['HS256'], secret: SECRET },
      },
      rateLimit: false,
      routes: [
        { path: '/open{/*p}', target: upstream.url, auth: false },
        { path: '/maybe{/*p}', target: upstream.url, auth: 'optional' },
        { path: '/orders{/*p}', target: upstream.url, auth: { scopes: ['orders:read'] } },
        { path: '/any{/*p}', target: upstream.url },
      ],
      onEvent: (e) => events.push(e),
    });
    host = await startHost((app) => app.use('/api', gateway), major);
  });
  afterAll(async () => {
    await host.close();
    await gateway.close();
    await upstream.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${host.url}/api${path}`, { headers });
  const last = () => upstream.received.at(-1)!;

  it('auth: false forwards without credentials or client consumer headers', async () => {
    const res = await get(`/open/a?api_key=${KEY}&x=1`, {
      authorization: `Bearer ${await token('u', '')}`,
      'x-consumer-id': 'eve',
    });
    expect(res.status).toBe(200);
    expect(last().url).toBe('/open/a?x=1');
    expect(last().headers.authorization).toBeUndefined();
    expect(last().headers['x-consumer-id']).toBeUndefined();
  });

  it("auth: 'optional' passes anonymous callers and still refuses bad tokens", async () => {
    expect((await get('/maybe/x')).status).toBe(200);
    expect(last().headers['x-consumer-id']).toBeUndefined();
    const count = upstream.received.length;
    const expired = await token('u', '', '-1m');
    const res = await get('/maybe/x', { authorization: `Bearer ${expired}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(upstream.received).toHaveLength(count);
  });

  it('auth: { scopes } answers 403 without the scope and forwards with it', async () => {
    const count = upstream.received.length;
    const denied = await get('/orders/1', {
      authorization: `Bearer ${await token('u1', 'other')}`,
    });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(upstream.received).toHaveLength(count);
    const ok = await get('/orders/1', {
      authorization: `Bearer ${await token('u1', 'orders:read')}`,
    });
    expect(ok.status).toBe(200);
    expect(last().headers['x-consumer-id']).toBe('u1');
    expect(last().headers.authorization).toBeUndefined();
    expect((await get('/orders/1', { 'x-api-key': KEY })).status).toBe(200);
    expect(last().headers['x-consumer-id']).toBe('svc');
  });

  it('a client cannot drop the consumer headers by naming them in Connection', async () => {
    const port = Number(new URL(host.url).port);
    const res = await rawGet(port, '/api/orders/2', [
      `X-Api-Key: ${KEY}`,
      'Connection: X-Consumer-Id, X-Consumer-Scopes, X-Other',
      'X-Other: dropped',
    ]);
    expect(res.status).toBe(200);
    expect(last().url).toBe('/orders/2');
    expect(last().headers['x-consumer-id']).toBe('svc');
    expect(last().headers['x-consumer-scopes']).toBe('orders:read');
    // Other names in Connection are still hop-by-hop and dropped.
    expect(last().headers['x-other']).toBeUndefined();
  });

  it('the default route requires credentials; the query key is removed before proxying', async () => {
    const count = upstream.received.length;
    const none = await get('/any/z');
    expect(none.status).toBe(401);
    expect(upstream.received).toHaveLength(count);
    const res = await get(`/any/z?b=2&api_key=${KEY}`);
    expect(res.status).toBe(200);
    expect(last().url).toBe('/any/z?b=2');
    expect(JSON.stringify(events)).not.toContain(KEY);
  });
});
