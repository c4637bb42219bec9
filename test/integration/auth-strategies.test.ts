import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password-hash.js';
import type { Principal } from '../../src/types.js';
import { type AuthApp, startAuthApp, visible } from '../helpers/auth-app.js';
import { EXPRESS_MAJORS } from '../helpers/host.js';

const API_KEY = 'strategy-test-key-0123456789abcdef';
const JWT_SECRET = 'hs-secret-that-is-long-enough-0123456789';
const PASSWORD = 'correct horse battery staple';

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

describe.each(EXPRESS_MAJORS)('Basic and strategy order on Express %i', (major) => {
  let app: AuthApp;
  beforeAll(async () => {
    app = await startAuthApp(
      {
        apiKey: { keys: [{ id: 'key-user', key: API_KEY }] },
        jwt: { algorithms: ['HS256'], secret: JWT_SECRET },
        basic: {
          users: [{ username: 'ops', passwordHash: hashPassword(PASSWORD), scopes: ['admin'] }],
          realm: 'admin area',
        },
      },
      major,
    );
  });
  afterAll(() => app.close());
  const reset = () => {
    app.upstream.received.length = 0;
    app.events.length = 0;
  };

  it('accepts the right password and forwards the user without the Authorization header', async () => {
    reset();
    const res = await app.get('/api/x', { authorization: basic('ops', PASSWORD) });
    expect(res.status).toBe(200);
    const seen = app.upstream.received[0]!;
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers['x-consumer-id']).toBe('ops');
    expect(seen.headers['x-consumer-scopes']).toBe('admin');
  });

  it('refuses a wrong password and an unknown user alike, with the Basic challenge', async () => {
    reset();
    for (const [user, password] of [
      ['ops', 'wrong'],
      ['nobody', PASSWORD],
      ['ops', ''],
    ] as const) {
      const res = await app.get('/api/x', { authorization: basic(user, password) });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="admin area", charset="UTF-8"');
      expect(await visible(res, app.events)).not.toContain(PASSWORD);
    }
    for (const malformed of ['Basic !!!', 'Basic bm9jb2xvbg==', 'Basic ']) {
      expect((await app.get('/api/x', { authorization: malformed })).status).toBe(401);
    }
    expect(app.events.every((e) => e.type === 'auth.failed' && e.strategy === 'basic')).toBe(true);
    expect(app.upstream.received).toHaveLength(0);
  });

  it('an unknown user takes about as long as a wrong password (both run scrypt)', async () => {
    const time = async (user: string) => {
      const started = process.hrtime.bigint();
      await app.get('/api/x', { authorization: basic(user, 'wrong') });
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    await time('ops');
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time('ops'));
      unknown.push(await time('nobody'));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[2] as number;
    // scrypt with N=16384 takes milliseconds; a skipped check would be far faster.
    expect(median(unknown)).toBeGreaterThan(median(known) / 3);
  });

  it('offers every configured challenge when no credentials are sent', async () => {
    reset();
    const res = await app.get('/api/x');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      'ApiKey realm="api", header="x-api-key", Bearer realm="api", Basic realm="admin area", charset="UTF-8"',
    );
  });

  it('lets the API key decide first; an invalid key never falls through to a valid password', async () => {
    reset();
    const res = await app.get('/api/x', {
      'x-api-key': 'wrong-key',
      authorization: basic('ops', PASSWORD),
    });
    expect(res.status).toBe(401);
    expect(app.events[0]).toMatchObject({ strategy: 'apiKey', reason: 'invalid_key' });
    const ok = await app.get('/api/x', { 'x-api-key': API_KEY, authorization: 'Bearer garbage' });
    expect(ok.status).toBe(200);
    const seen = app.upstream.received[0]!;
    expect(seen.headers['x-consumer-id']).toBe('key-user');
    expect(seen.headers.authorization).toBeUndefined();
  });

  it('an invalid bearer token never falls through to Basic', async () => {
    reset();
    const res = await app.get('/api/x', { authorization: 'Bearer nope' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain(
      'Bearer realm="api", error="invalid_token"',
    );
    expect(app.upstream.received).toHaveLength(0);
  });
});

describe('Basic with a check function', () => {
  it('accepts what it returns, refuses null, answers 500 when it throws', async () => {
    const app = await startAuthApp({
      basic: {
        users: async (username, password) => {
          if (username === 'boom') throw new Error(`backend down for ${password}`);
          return username === 'ldap-user' && password === 'pässwörd'
            ? { id: 'ldap-user', type: 'custom', scopes: ['x'] }
            : null;
        },
      },
    });
    try {
      expect(
        (await app.get('/api/x', { authorization: basic('ldap-user', 'pässwörd') })).status,
      ).toBe(200);
      expect(app.upstream.received[0]?.headers['x-consumer-id']).toBe('ldap-user');
      expect(app.events[0]).toMatchObject({ type: 'auth.succeeded', strategy: 'basic' });
      const wrong = await app.get('/api/x', { authorization: basic('ldap-user', 'nope') });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="api", charset="UTF-8"');
      const boom = await app.get('/api/x', { authorization: basic('boom', 'secret-pass') });
      expect(boom.status).toBe(500);
      expect(await visible(boom, app.events)).not.toContain('secret-pass');
      expect(app.upstream.received).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});

describe('optional authentication', () => {
  let app: AuthApp;
  beforeAll(async () => {
    app = await startAuthApp({
      apiKey: { keys: [{ id: 'alice', key: API_KEY }] },
      optional: true,
    });
  });
  afterAll(() => app.close());

  it('passes a request without credentials as anonymous, with no consumer headers', async () => {
    const res = await app.get('/api/x', { 'x-consumer-id': 'admin', 'x-consumer-scopes': 'all' });
    expect(res.status).toBe(200);
    const seen = app.upstream.received.at(-1)!;
    expect(seen.headers['x-consumer-id']).toBeUndefined();
    expect(seen.headers['x-consumer-scopes']).toBeUndefined();
    expect(app.events.at(-1)).toMatchObject({
      type: 'auth.succeeded',
      strategy: 'anonymous',
      consumerId: 'anonymous',
    });
  });

  it('still refuses invalid credentials', async () => {
    const before = app.upstream.received.length;
    const res = await app.get('/api/x', { 'x-api-key': 'nope' });
    expect(res.status).toBe(401);
    expect(app.upstream.received).toHaveLength(before);
  });

  it('sets the anonymous principal on req.gateway', async () => {
    const { authenticate } = await import('../../src/auth/authenticate.js');
    const { startHost } = await import('../helpers/host.js');
    const mw = authenticate({ apiKey: { keys: [{ id: 'a', key: API_KEY }] }, optional: true });
    const host = await startHost((a) => {
      a.use(mw, (req: { gateway?: { principal?: Principal } }, res: { json(v: unknown): void }) =>
        res.json(req.gateway?.principal),
      );
    });
    try {
      expect(await (await fetch(host.url)).json()).toEqual({
        id: 'anonymous',
        type: 'anonymous',
        scopes: [],
      });
      const keyed = await (await fetch(host.url, { headers: { 'x-api-key': API_KEY } })).json();
      expect(keyed).toMatchObject({ id: 'a', type: 'apiKey', scopes: [] });
    } finally {
      await mw.close();
      await host.close();
    }
  });
});

describe('custom verify', () => {
  it('accepts what the verifier returns, typed custom', async () => {
    const app = await startAuthApp({
      verify: async (req) =>
        req.headers['x-session'] === 'valid'
          ? { id: 'sess-user', type: 'custom', scopes: ['s'] }
          : null,
    });
    try {
      expect((await app.get('/api/x', { 'x-session': 'valid' })).status).toBe(200);
      expect(app.upstream.received[0]?.headers['x-consumer-id']).toBe('sess-user');
      const refused = await app.get('/api/x', { 'x-session': 'bad' });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Custom realm="api"');
      expect(app.upstream.received).toHaveLength(1);
    } finally {
      await app.close();
    }
  });

  it.each([
    [
      'throws',
      () => {
        throw new Error('db exploded: password=hunter2');
      },
    ],
    ['rejects', () => Promise.reject(new Error('db exploded: password=hunter2'))],
    ['returns a malformed principal', () => ({ id: 42 }) as unknown as Principal],
  ])('answers 500 when the verifier %s, and the host keeps running', async (_name, verify) => {
    const app = await startAuthApp({ verify });
    try {
      const res = await app.get('/api/x');
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const text = await visible(res, app.events);
      expect(text).toContain('"code":"internal_error"');
      expect(text).not.toContain('hunter2');
      expect(app.events).toEqual([
        expect.objectContaining({
          type: 'auth.failed',
          reason: 'verifier_error',
          status: 500,
          strategy: 'custom',
        }),
      ]);
      expect(app.upstream.received).toHaveLength(0);
      // Still serving.
      expect((await app.get('/api/x')).status).toBe(500);
    } finally {
      await app.close();
    }
  });

  it('an API-key verifier function (async) and its failure modes', async () => {
    const app = await startAuthApp({
      apiKey: {
        keys: async (key) => {
          if (key === 'boom') throw new Error('lookup failed');
          return key === 'db-key'
            ? { id: 'db-user', type: 'apiKey', scopes: ['r'], plan: 'pro' }
            : null;
        },
      },
    });
    try {
      expect((await app.get('/api/x', { 'x-api-key': 'db-key' })).status).toBe(200);
      expect(app.upstream.received[0]?.headers['x-consumer-id']).toBe('db-user');
      expect((await app.get('/api/x', { 'x-api-key': 'other' })).status).toBe(401);
      expect((await app.get('/api/x', { 'x-api-key': 'boom' })).status).toBe(500);
      expect(app.upstream.received).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});
