// Principal kinds (SPEC §8): the upstream learns how a principal was authenticated, and a JWT
// `sub` never shares a rate-limit budget with an API key `id` of the same text. Reproduces the
// report of issue 11 item 6 with a real gateway (API key + HS256 JWT) and a real upstream.
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGateway,
  hashPassword,
  MemoryStore,
  type Policy,
  type RateLimitStore,
} from '../../src/index.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { awayFromMinuteBoundary } from '../helpers/minute-boundary.js';
import { rawGet } from '../helpers/raw-http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SECRET = 'principal-kinds-hs-secret-0123456789abcdef';
const KEY = 'principal-kinds-api-key-0123456789abcdef';
const PASSWORD = 'principal-kinds-password';
const PASSWORD_HASH = hashPassword(PASSWORD);

function jwt(sub: string): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));
}

/** A MemoryStore that records the client key of every decision it is asked for. */
function recordingStore(): { store: RateLimitStore; keys: string[]; memory: MemoryStore } {
  const memory = new MemoryStore();
  const keys: string[] = [];
  const store: RateLimitStore = {
    consume(key: string, policies: readonly Policy[], cost: number) {
      keys.push(key);
      return memory.consume(key, policies, cost);
    },
    reset: (key) => memory.reset(key),
  };
  return { store, keys, memory };
}

describe.each(EXPRESS_MAJORS)('principal kinds through createGateway on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  let gateway: ReturnType<typeof createGateway>;
  let recorded: ReturnType<typeof recordingStore>;

  beforeAll(async () => {
    await awayFromMinuteBoundary();
    upstream = await startUpstream();
    recorded = recordingStore();
    gateway = createGateway({
      auth: {
        apiKey: { keys: [{ id: 'c0', key: KEY }] },
        jwt: { algorithms: ['HS256'], secret: SECRET },
        basic: { users: [{ username: 'c0', passwordHash: PASSWORD_HASH }] },
        // A verifier cannot pick its principal's kind: whatever it says, the kind is 'custom'.
        verify: (req) =>
          req.headers['x-custom-login'] === 'c0' ? { id: 'c0', type: 'apiKey', scopes: [] } : null,
      },
      store: recorded.store,
      rateLimit: { limit: 2, window: '1m' },
      routes: [
        { path: '/shared{/*p}', target: upstream.url },
        {
          path: '/by-principal{/*p}',
          target: upstream.url,
          rateLimit: { limit: 1, window: '1m', key: 'principal', name: 'by-principal' },
        },
        { path: '/open{/*p}', target: upstream.url, auth: false, rateLimit: false },
        { path: '/maybe{/*p}', target: upstream.url, auth: 'optional', rateLimit: false },
      ],
    });
    host = await startHost((app) => app.use('/api', gateway), major);
  });
  afterAll(async () => {
    await host.close();
    await gateway.close();
    await recorded.memory.close();
    await upstream.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${host.url}/api${path}`, { headers });
  const basic = `Basic ${Buffer.from(`c0:${PASSWORD}`).toString('base64')}`;

  it('an API key id and a JWT sub of the same text have separate budgets (the default key)', async () => {
    const before = upstream.received.length;
    const token = await jwt('c0');
    const asKey = () => get('/shared/x', { 'x-api-key': KEY });
    const asJwt = () => get('/shared/x', { authorization: `Bearer ${token}` });
    expect([(await asKey()).status, (await asKey()).status, (await asKey()).status]).toEqual([
      200, 200, 429,
    ]);
    // Before principal kinds, the JWT arrived as the API-key consumer c0 and got 429 here.
    expect([(await asJwt()).status, (await asJwt()).status, (await asJwt()).status]).toEqual([
      200, 200, 429,
    ]);
    // Basic and custom principals named c0 are two more consumers, with budgets of their own.
    expect((await get('/shared/x', { authorization: basic })).status).toBe(200);
    expect((await get('/shared/x', { 'x-custom-login': 'c0' })).status).toBe(200);

    const seen = upstream.received.slice(before);
    expect(seen.map((r) => [r.headers['x-consumer-id'], r.headers['x-consumer-type']])).toEqual([
      ['c0', 'apiKey'],
      ['c0', 'apiKey'],
      ['c0', 'jwt'],
      ['c0', 'jwt'],
      ['c0', 'basic'],
      ['c0', 'custom'],
    ]);
    // The store keys, as store.reset(key) takes them.
    expect(new Set(recorded.keys)).toEqual(
      new Set(['apiKey:c0', 'jwt:c0', 'basic:c0', 'custom:c0']),
    );
  });

  it("key: 'principal' is namespaced by kind too", async () => {
    const token = await jwt('c0');
    const asKey = () => get('/by-principal/x', { 'x-api-key': KEY });
    const asJwt = () => get('/by-principal/x', { authorization: `Bearer ${token}` });
    expect((await asKey()).status).toBe(200);
    expect((await asJwt()).status).toBe(200);
    expect((await asKey()).status).toBe(429);
    expect((await asJwt()).status).toBe(429);
  });

  it('a client-sent X-Consumer-Type never reaches the upstream, with or without auth', async () => {
    const before = upstream.received.length;
    const forged = { 'x-consumer-type': 'apiKey', 'x-consumer-id': 'admin' };
    const token = await jwt('forger');
    expect((await get('/open/x', forged)).status).toBe(200);
    expect((await get('/maybe/x', forged)).status).toBe(200); // anonymous: no consumer headers
    expect((await get('/maybe/x', { ...forged, authorization: `Bearer ${token}` })).status).toBe(
      200,
    );
    const seen = upstream.received.slice(before);
    expect(seen).toHaveLength(3);
    expect(seen[0]?.headers['x-consumer-type']).toBeUndefined();
    expect(seen[0]?.headers['x-consumer-id']).toBeUndefined();
    expect(seen[1]?.headers['x-consumer-type']).toBeUndefined();
    expect(seen[1]?.headers['x-consumer-id']).toBeUndefined();
    expect(seen[2]?.headers['x-consumer-type']).toBe('jwt');
    expect(seen[2]?.headers['x-consumer-id']).toBe('forger');
    // Exactly one copy each: the gateway's.
    const names = seen[2]?.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names?.filter((n) => n === 'x-consumer-type')).toHaveLength(1);
  });

  it('a client cannot drop or smuggle X-Consumer-Type through Connection (raw socket)', async () => {
    const before = upstream.received.length;
    const token = await jwt('conn');
    const authed = await rawGet(host.port, '/api/maybe/x', [
      `Authorization: Bearer ${token}`,
      'Connection: close, X-Consumer-Type, X-Consumer-Id',
      'X-Consumer-Type: apiKey',
    ]);
    expect(authed.status).toBe(200);
    const open = await rawGet(host.port, '/api/open/x', [
      'Connection: close, X-Other',
      'X-Consumer-Type: apiKey',
    ]);
    expect(open.status).toBe(200);
    const [first, second] = upstream.received.slice(before);
    expect(first?.headers['x-consumer-type']).toBe('jwt');
    expect(first?.headers['x-consumer-id']).toBe('conn');
    expect(second?.headers['x-consumer-type']).toBeUndefined();
  });
});

describe('consumerHeaders.type', () => {
  it('renames the header; a client copy of the new name is removed', async () => {
    const upstream = await startUpstream();
    const gateway = createGateway({
      auth: {
        apiKey: { keys: [{ id: 'c0', key: KEY }] },
        consumerHeaders: { type: 'X-Principal-Kind' },
      },
      routes: [
        { path: '/a{/*p}', target: upstream.url },
        { path: '/open{/*p}', target: upstream.url, auth: false },
      ],
    });
    const host = await startHost((app) => app.use(gateway));
    try {
      const forged = { 'x-principal-kind': 'jwt' };
      const authed = await fetch(`${host.url}/a`, { headers: { ...forged, 'x-api-key': KEY } });
      expect(authed.status).toBe(200);
      expect((await fetch(`${host.url}/open`, { headers: forged })).status).toBe(200);
      const [first, second] = upstream.received;
      expect(first?.headers['x-principal-kind']).toBe('apiKey');
      expect(first?.headers['x-consumer-type']).toBeUndefined();
      expect(first?.headers['x-consumer-id']).toBe('c0');
      expect(second?.headers['x-principal-kind']).toBeUndefined();
    } finally {
      await host.close();
      await gateway.close();
      await upstream.close();
    }
  });

  it('must differ from the other consumer header names and from the API-key header', () => {
    expect(() =>
      createGateway({
        auth: {
          apiKey: { keys: [{ id: 'c0', key: KEY }] },
          consumerHeaders: { type: 'X-Consumer-Id' },
        },
        routes: [{ path: '/a', target: 'http://127.0.0.1:1' }],
      }),
    ).toThrow(/auth\.consumerHeaders: id, scopes and type must be three different header names/);
    expect(() =>
      createGateway({
        auth: {
          apiKey: { keys: [{ id: 'c0', key: KEY }], header: 'x-kind' },
          consumerHeaders: { type: 'X-Kind' },
        },
        routes: [{ path: '/a', target: 'http://127.0.0.1:1' }],
      }),
    ).toThrow(/auth\.apiKey\.header/);
    expect(() =>
      createGateway({
        auth: { apiKey: { keys: [{ id: 'c0', key: KEY }] }, consumerHeaders: { type: 'bad name' } },
        routes: [{ path: '/a', target: 'http://127.0.0.1:1' }],
      }),
    ).toThrow(/auth\.consumerHeaders\.type: must be a valid HTTP header name/);
  });
});
