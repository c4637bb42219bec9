import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/auth/hash-api-key.js';
import { type AuthApp, startAuthApp, visible } from '../helpers/auth-app.js';
import { EXPRESS_MAJORS } from '../helpers/host.js';
import { rawGet } from '../helpers/raw-http.js';

const ALICE_KEY = 'alice-secret-key-0123456789abcdef';
const BOB_KEY = 'bob-secret-key-fedcba9876543210';

describe.each(EXPRESS_MAJORS)('API keys on Express %i', (major) => {
  let app: AuthApp;

  beforeAll(async () => {
    app = await startAuthApp(
      {
        apiKey: {
          query: 'api_key',
          keys: [
            {
              id: 'alice',
              key: ALICE_KEY,
              scopes: ['read', 'write'],
              plan: 'gold',
              metadata: { team: 'a' },
            },
            { id: 'bob', hash: hashApiKey(BOB_KEY), scopes: ['read'] },
          ],
        },
      },
      major,
    );
  });
  afterAll(() => app.close());

  function reset() {
    app.upstream.received.length = 0;
    app.events.length = 0;
  }

  it('forwards a request with a plain key: key stripped, consumer headers set', async () => {
    reset();
    const res = await app.get('/api/orders?x=1', {
      'x-api-key': ALICE_KEY,
      'x-consumer-id': 'mallory',
      'X-Consumer-Scopes': 'admin',
    });
    expect(res.status).toBe(200);
    expect(app.upstream.received).toHaveLength(1);
    const seen = app.upstream.received[0]!;
    expect(seen.url).toBe('/orders?x=1');
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers['x-consumer-id']).toBe('alice');
    expect(seen.headers['x-consumer-scopes']).toBe('read write');
    // exactly one copy of each consumer header reached the upstream
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase());
    expect(names.filter((n) => n === 'x-consumer-id')).toHaveLength(1);
    expect(app.events).toEqual([
      expect.objectContaining({ type: 'auth.succeeded', strategy: 'apiKey', consumerId: 'alice' }),
    ]);
    expect(JSON.stringify(app.events)).not.toContain(ALICE_KEY);
  });

  it('matches a key configured as its hash', async () => {
    reset();
    const res = await app.get('/api/x', { 'x-api-key': BOB_KEY });
    expect(res.status).toBe(200);
    expect(app.upstream.received[0]?.headers['x-consumer-id']).toBe('bob');
  });

  it('refuses a missing key with 401 and an ApiKey challenge; the upstream sees nothing', async () => {
    reset();
    const res = await app.get('/api/x', { 'x-consumer-id': 'alice' });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('www-authenticate')).toBe('ApiKey realm="api", header="x-api-key"');
    const body = await res.json();
    expect(body).toMatchObject({ status: 401, code: 'unauthorized', title: 'Unauthorized' });
    expect(app.upstream.received).toHaveLength(0);
    expect(app.events).toEqual([
      expect.objectContaining({ type: 'auth.failed', reason: 'missing_credentials', status: 401 }),
    ]);
  });

  it('refuses a wrong key without echoing it anywhere', async () => {
    reset();
    const wrong = `${ALICE_KEY}-but-wrong`;
    const res = await app.get('/api/x', { 'x-api-key': wrong });
    expect(res.status).toBe(401);
    const seen = await visible(res, app.events);
    expect(seen).not.toContain(wrong);
    expect(seen).not.toContain(ALICE_KEY);
    expect(app.events[0]).toMatchObject({
      type: 'auth.failed',
      reason: 'invalid_key',
      strategy: 'apiKey',
    });
    expect(app.upstream.received).toHaveLength(0);
  });

  it('accepts the key as a query parameter and removes it from the forwarded query string', async () => {
    reset();
    const res = await app.get(`/api/items?a=1&api_key=${encodeURIComponent(ALICE_KEY)}&b=2`);
    expect(res.status).toBe(200);
    expect(app.upstream.received[0]?.url).toBe('/items?a=1&b=2');
    reset();
    const only = await app.get(`/api/items?api_key=${ALICE_KEY}`);
    expect(only.status).toBe(200);
    expect(app.upstream.received[0]?.url).toBe('/items');
  });

  it('refuses a query key given twice, and a wrong query key', async () => {
    reset();
    const twice = await app.get(`/api/items?api_key=${ALICE_KEY}&api_key=${BOB_KEY}`);
    expect(twice.status).toBe(401);
    const wrong = await app.get('/api/items?api_key=nope');
    expect(wrong.status).toBe(401);
    expect(app.upstream.received).toHaveLength(0);
  });

  it('sends the header key as received over the wire, also with odd bytes, without crashing', async () => {
    reset();
    const res = await rawGet(app.host.port, '/api/x', ['X-Api-Key: caf\xe9-not-a-key']);
    expect(res.status).toBe(401);
    expect(app.upstream.received).toHaveLength(0);
    const ok = await app.get('/api/still-alive', { 'x-api-key': ALICE_KEY });
    expect(ok.status).toBe(200);
  });
});
