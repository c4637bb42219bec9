import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from '../../src/auth/authenticate.js';
import { startAuthApp } from '../helpers/auth-app.js';
import { testForwarder } from '../helpers/auth-forwarder.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SECRET = 'hs-secret-that-is-long-enough-0123456789';
const KEY = 'forwarding-test-key-0123456789abcdef';

function jwt(sub: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));
}

describe.each(EXPRESS_MAJORS)(
  'principal values that are not safe header values (Express %i)',
  (major) => {
    it('are percent-encoded, never crash, never inject headers', async () => {
      const app = await startAuthApp({ jwt: { algorithms: ['HS256'], secret: SECRET } }, major);
      try {
        const cases: Array<[string, string, unknown]> = [
          ['evil\r\nX-Injected: 1', 'evil%0D%0AX-Injected:%201', ['a\r\nb', 'ok']],
          ['用户', '%E7%94%A8%E6%88%B7', 'read'],
          ['josé 100%', 'jos%C3%A9%20100%25', 'x'],
          ['plain-id_1@example.com', 'plain-id_1@example.com', 'orders:read orders:write'],
        ];
        for (const [sub, encoded, scopes] of cases) {
          const claims = Array.isArray(scopes) ? { scp: scopes } : { scope: scopes };
          const res = await app.get('/api/x', {
            authorization: `Bearer ${await jwt(sub, claims)}`,
          });
          expect(res.status).toBe(200);
          const seen = app.upstream.received.at(-1)!;
          expect(seen.headers['x-consumer-id']).toBe(encoded);
          expect(decodeURIComponent(seen.headers['x-consumer-id'] as string)).toBe(sub);
          expect(seen.headers['x-injected']).toBeUndefined();
        }
        expect(app.upstream.received.at(0)?.headers['x-consumer-scopes']).toBe('a%0D%0Ab ok');
        expect(app.upstream.received.at(-1)?.headers['x-consumer-scopes']).toBe(
          'orders:read orders:write',
        );
      } finally {
        await app.close();
      }
    });

    it('a custom verifier returning a CR/LF id does not crash the host', async () => {
      const app = await startAuthApp(
        { verify: () => ({ id: 'x\r\nSet-Cookie: a=b', type: 'custom', scopes: ['\u0000'] }) },
        major,
      );
      try {
        const res = await app.get('/api/x');
        expect(res.status).toBe(200);
        expect(res.headers.get('set-cookie')).toBeNull();
        const seen = app.upstream.received[0]!;
        expect(seen.headers['x-consumer-id']).toBe('x%0D%0ASet-Cookie:%20a=b');
        expect(seen.headers['x-consumer-scopes']).toBe('%00');
        expect(seen.headers['set-cookie']).toBeUndefined();
      } finally {
        await app.close();
      }
    });
  },
);

describe('forwarding options', () => {
  it('forwardCredentials: true forwards the key and Authorization; consumer headers are still replaced', async () => {
    const app = await startAuthApp({
      apiKey: { keys: [{ id: 'alice', key: KEY }], query: 'k' },
      jwt: { algorithms: ['HS256'], secret: SECRET },
      forwardCredentials: true,
    });
    try {
      const token = await jwt('bob');
      expect((await app.get(`/api/x?k=${KEY}&y=1`, { 'x-consumer-id': 'eve' })).status).toBe(200);
      expect(app.upstream.received[0]?.url).toBe(`/x?k=${KEY}&y=1`);
      expect(app.upstream.received[0]?.headers['x-consumer-id']).toBe('alice');
      expect((await app.get('/api/x', { authorization: `Bearer ${token}` })).status).toBe(200);
      expect(app.upstream.received[1]?.headers.authorization).toBe(`Bearer ${token}`);
    } finally {
      await app.close();
    }
  });

  it('configurable consumer header names; client copies of both old and new names are handled', async () => {
    const app = await startAuthApp({
      apiKey: { keys: [{ id: 'alice', key: KEY, scopes: ['r'] }], header: 'X-Gateway-Key' },
      consumerHeaders: { id: 'X-User', scopes: 'X-User-Scopes' },
    });
    try {
      const res = await app.get('/api/x', {
        'x-gateway-key': KEY,
        'x-user': 'mallory',
        'x-user-scopes': 'admin',
      });
      expect(res.status).toBe(200);
      const seen = app.upstream.received[0]!;
      expect(seen.headers['x-user']).toBe('alice');
      expect(seen.headers['x-user-scopes']).toBe('r');
      expect(seen.headers['x-gateway-key']).toBeUndefined();
      expect(seen.headers['x-consumer-id']).toBeUndefined();
    } finally {
      await app.close();
    }
  });

  it('removes the query key from req.originalUrl too (host access logs)', async () => {
    const upstream: Upstream = await startUpstream();
    const mw = authenticate({ apiKey: { keys: [{ id: 'alice', key: KEY }], query: 'api_key' } });
    const logged: string[] = [];
    let host: Host | undefined;
    try {
      host = await startHost((a) => {
        a.use(
          (
            req: { originalUrl: string },
            res: { on(e: string, f: () => void): void },
            next: () => void,
          ) => {
            res.on('finish', () => logged.push(req.originalUrl));
            next();
          },
        );
        a.use('/api', mw, testForwarder(upstream.url));
      });
      const res = await fetch(`${host.url}/api/p?api_key=${KEY}&z=9`);
      expect(res.status).toBe(200);
      expect(upstream.received[0]?.url).toBe('/p?z=9');
      expect(logged).toEqual(['/api/p?z=9']);
    } finally {
      await mw.close();
      await host?.close();
      await upstream.close();
    }
  });
});

describe.each(EXPRESS_MAJORS)('the query key in later host handlers (Express %i)', (major) => {
  it('is gone from req.url, req.originalUrl and req.query', async () => {
    const mw = authenticate({ apiKey: { keys: [{ id: 'alice', key: KEY }], query: 'api_key' } });
    const host = await startHost((a) => {
      a.use(
        '/api',
        mw,
        (
          req: { url: string; originalUrl: string; query: Record<string, unknown> },
          res: { json(v: unknown): void },
        ) => res.json({ url: req.url, originalUrl: req.originalUrl, query: req.query }),
      );
    }, major);
    try {
      const res = await fetch(`${host.url}/api/p?api_key=${KEY}&z=9`);
      expect(await res.json()).toEqual({
        url: '/p?z=9',
        originalUrl: '/api/p?z=9',
        query: { z: '9' },
      });
    } finally {
      await mw.close();
      await host.close();
    }
  });
});

describe('createAuthenticator for routes without auth', () => {
  let upstream: Upstream;
  let host: Host;
  beforeAll(async () => {
    const { createAuthenticator } = await import('../../src/auth/authenticator.js');
    const { sendProblem } = await import('../../src/problem.js');
    const { parseAuthOptions } = await import('../../src/schema/auth.js');
    const auth = createAuthenticator(
      parseAuthOptions({
        apiKey: { keys: [{ id: 'alice', key: KEY }], query: 'api_key' },
        jwt: { algorithms: ['HS256'], secret: SECRET },
      }).value,
      { emit: () => {}, sendProblem },
    );
    upstream = await startUpstream();
    host = await startHost((a) => {
      a.use(
        '/public',
        (req: Parameters<typeof auth.stripCredentials>[0], _res: unknown, next: () => void) => {
          auth.stripCredentials(req);
          next();
        },
        testForwarder(upstream.url),
      );
    });
  });
  afterAll(async () => {
    await host.close();
    await upstream.close();
  });

  it('stripCredentials removes every credential and client consumer headers', async () => {
    const res = await fetch(`${host.url}/public/a?api_key=${KEY}&q=1`, {
      headers: {
        'x-api-key': KEY,
        authorization: 'Bearer some.token.here',
        'x-consumer-id': 'mallory',
        'x-consumer-scopes': 'admin',
        'x-consumer-type': 'apiKey',
        'x-other': 'kept',
      },
    });
    expect(res.status).toBe(200);
    const seen = upstream.received[0]!;
    expect(seen.url).toBe('/a?q=1');
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers['x-consumer-id']).toBeUndefined();
    expect(seen.headers['x-consumer-scopes']).toBeUndefined();
    expect(seen.headers['x-consumer-type']).toBeUndefined();
    expect(seen.headers['x-other']).toBe('kept');
  });
});
