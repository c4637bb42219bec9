import { createHmac } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JwtAlgorithm } from '../../src/schema/auth.js';
import { type AuthApp, startAuthApp, visible } from '../helpers/auth-app.js';
import { EXPRESS_MAJORS } from '../helpers/host.js';
import { startJwksServer } from '../helpers/jwks-server.js';

const SECRET = 'hs-secret-that-is-long-enough-0123456789';
const now = () => Math.floor(Date.now() / 1000);

type SigningKey = Parameters<SignJWT['sign']>[0];

function sign(
  key: SigningKey,
  alg: string,
  claims: JWTPayload = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({ sub: 'user-1', iat: now(), exp: now() + 300, ...claims })
    .setProtectedHeader({ ...header, alg })
    .sign(key);
}

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const apps: AuthApp[] = [];
afterAll(async () => {
  for (const app of apps) await app.close();
});
async function appFor(options: Parameters<typeof startAuthApp>[0], major: 4 | 5 = 5) {
  const app = await startAuthApp(options, major);
  apps.push(app);
  return app;
}

describe('every algorithm family verifies', () => {
  const asymmetric: JwtAlgorithm[] = [
    'RS256',
    'RS512',
    'PS256',
    'ES256',
    'ES384',
    'ES512',
    'EdDSA',
  ];
  it.each(asymmetric)('%s with a PEM public key', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const app = await appFor({
      jwt: { algorithms: [alg], publicKey: await exportSPKI(publicKey) },
    });
    const token = await sign(privateKey, alg, { sub: `sub-${alg}` });
    const res = await app.get('/api/who', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    const seen = app.upstream.received[0]!;
    expect(seen.headers['x-consumer-id']).toBe(`sub-${alg}`);
    expect(seen.headers.authorization).toBeUndefined();
    // A different key of the same kind is refused.
    const other = await generateKeyPair(alg, { extractable: true });
    const forged = await sign(other.privateKey, alg);
    const refused = await app.get('/api/who', { authorization: `Bearer ${forged}` });
    expect(refused.status).toBe(401);
    expect(app.upstream.received).toHaveLength(1);
  });

  it.each(['HS256', 'HS384', 'HS512'] as JwtAlgorithm[])('%s with a secret', async (alg) => {
    const app = await appFor({ jwt: { algorithms: [alg], secret: `${SECRET}${SECRET}` } });
    const key = new TextEncoder().encode(`${SECRET}${SECRET}`);
    const res = await app.get('/api/x', { authorization: `Bearer ${await sign(key, alg)}` });
    expect(res.status).toBe(200);
    const wrong = new TextEncoder().encode(`${SECRET}${SECRET}!`);
    const bad = await app.get('/api/x', { authorization: `Bearer ${await sign(wrong, alg)}` });
    expect(bad.status).toBe(401);
    expect(app.upstream.received).toHaveLength(1);
  });
});

describe.each(EXPRESS_MAJORS)('claims and refusals on Express %i', (major) => {
  const key = new TextEncoder().encode(SECRET);
  let app: AuthApp;
  afterEach(() => {
    app.upstream.received.length = 0;
    app.events.length = 0;
  });

  beforeAll(async () => {
    app = await appFor(
      {
        jwt: {
          algorithms: ['HS256'],
          secret: SECRET,
          issuer: 'https://idp.test/',
          audience: ['orders', 'billing'],
          requiredClaims: ['tenant'],
        },
        scopes: ['orders:read'],
      },
      major,
    );
  });

  const good = {
    iss: 'https://idp.test/',
    aud: 'orders',
    tenant: 't1',
    scope: 'orders:read orders:write',
  };

  it('accepts a valid token and forwards sub and scopes', async () => {
    const token = await sign(key, 'HS256', good);
    const res = await app.get('/api/o', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(app.upstream.received[0]?.headers['x-consumer-scopes']).toBe('orders:read orders:write');
    expect(app.events[0]).toMatchObject({
      type: 'auth.succeeded',
      strategy: 'jwt',
      consumerId: 'user-1',
    });
  });

  it('reads scopes from an scp array', async () => {
    const { scope: _drop, ...rest } = good;
    const token = await sign(key, 'HS256', { ...rest, scp: ['orders:read'] });
    const res = await app.get('/api/o', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
  });

  it('answers no credentials with a Bearer challenge without error=', async () => {
    const res = await app.get('/api/o');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="api"');
    expect(app.events[0]).toMatchObject({ reason: 'missing_credentials' });
  });

  const cases: Array<[string, JWTPayload, string]> = [
    ['expired', { ...good, exp: now() - 60 }, 'token_expired'],
    ['not yet valid', { ...good, nbf: now() + 300 }, 'token_not_yet_valid'],
    ['wrong issuer', { ...good, iss: 'https://evil.test/' }, 'invalid_claims'],
    ['wrong audience', { ...good, aud: 'payroll' }, 'invalid_claims'],
    ['missing required claim', { ...good, tenant: undefined }, 'invalid_claims'],
    ['missing sub', { ...good, sub: undefined }, 'invalid_claims'],
  ];
  it.each(cases)('refuses a token that is %s', async (_name, claims, reason) => {
    const token = await sign(key, 'HS256', claims);
    const res = await app.get('/api/o', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(
      /^Bearer realm="api", error="invalid_token"/,
    );
    expect(app.events[0]).toMatchObject({
      type: 'auth.failed',
      strategy: 'jwt',
      reason,
      status: 401,
    });
    const seen = await visible(res, app.events);
    expect(seen).not.toContain(token);
    expect(seen).not.toContain(SECRET);
    expect(app.upstream.received).toHaveLength(0);
  });

  it('refuses a token without the required scope with 403 insufficient_scope', async () => {
    const token = await sign(key, 'HS256', { ...good, scope: 'orders:write' });
    const res = await app.get('/api/o', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="orders:read"',
    );
    expect(await res.json()).toMatchObject({ code: 'forbidden', status: 403 });
    expect(app.events[0]).toMatchObject({
      reason: 'insufficient_scope',
      status: 403,
      consumerId: 'user-1',
    });
    expect(app.upstream.received).toHaveLength(0);
  });

  it('refuses unsigned tokens in every spelling of none', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const token = `${b64({ alg, typ: 'JWT' })}.${b64({ ...good, sub: 'admin', exp: now() + 60 })}.`;
      const res = await app.get('/api/o', { authorization: `Bearer ${token}` });
      expect(res.status).toBe(401);
    }
    expect(app.upstream.received).toHaveLength(0);
  });

  it('refuses garbage and an empty bearer token', async () => {
    for (const value of ['Bearer abc', 'Bearer a.b.c', 'Bearer ', 'bearer x.y']) {
      const res = await app.get('/api/o', { authorization: value });
      expect(res.status).toBe(401);
    }
    expect(app.upstream.received).toHaveLength(0);
  });
});

describe('clock tolerance', () => {
  it('accepts a token expired within the tolerance, refuses beyond it', async () => {
    const key = new TextEncoder().encode(SECRET);
    const app = await appFor({
      jwt: { algorithms: ['HS256'], secret: SECRET, clockTolerance: '30s' },
    });
    const recent = await sign(key, 'HS256', { exp: now() - 10 });
    expect((await app.get('/api/x', { authorization: `Bearer ${recent}` })).status).toBe(200);
    const old = await sign(key, 'HS256', { exp: now() - 120 });
    expect((await app.get('/api/x', { authorization: `Bearer ${old}` })).status).toBe(401);
  });
});

describe('algorithm confusion and embedded keys', () => {
  it('refuses HS256 signed with the RSA public key', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const app = await appFor({ jwt: { algorithms: ['RS256'], publicKey: pem } });
    const header = b64({ alg: 'HS256', typ: 'JWT' });
    const payload = b64({ sub: 'admin', exp: now() + 60 });
    const sig = createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url');
    const res = await app.get('/api/x', { authorization: `Bearer ${header}.${payload}.${sig}` });
    expect(res.status).toBe(401);
    expect(app.events[0]).toMatchObject({ reason: 'invalid_token' });
    const real = await sign(privateKey, 'RS256');
    expect((await app.get('/api/x', { authorization: `Bearer ${real}` })).status).toBe(200);
  });

  it('never trusts or fetches keys named by the token (jwk, jku, x5u)', async () => {
    const trusted = await generateKeyPair('ES256', { extractable: true });
    const trustedJwk = { ...(await exportJWK(trusted.publicKey)), kid: 'k1', alg: 'ES256' };
    const jwks = await startJwksServer([trustedJwk]);
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const attackerJwk = { ...(await exportJWK(attacker.publicKey)), kid: 'evil', alg: 'ES256' };
    const attackerServer = await startJwksServer([attackerJwk]);
    try {
      const app = await appFor({
        jwt: { algorithms: ['ES256'], jwksUri: jwks.uri, jwksCooldown: '1m' },
      });
      expect(
        (
          await app.get('/api/x', {
            authorization: `Bearer ${await sign(trusted.privateKey, 'ES256', {}, { kid: 'k1' })}`,
          })
        ).status,
      ).toBe(200);
      const headers = [
        { kid: 'k1', jwk: attackerJwk },
        { kid: 'evil', jku: attackerServer.uri },
        { kid: 'evil', x5u: attackerServer.uri },
        { jwk: attackerJwk },
      ];
      for (const header of headers) {
        const token = await sign(attacker.privateKey, 'ES256', { sub: 'admin' }, header);
        const res = await app.get('/api/x', { authorization: `Bearer ${token}` });
        expect(res.status).toBe(401);
      }
      expect(attackerServer.fetches).toBe(0);
      expect(app.upstream.received.map((r) => r.headers['x-consumer-id'])).toEqual(['user-1']);
    } finally {
      await jwks.close();
      await attackerServer.close();
    }
  });
});
