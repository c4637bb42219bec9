import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import type { JwtOptions } from '../../src/schema/auth.js';
import { type AuthApp, startAuthApp } from '../helpers/auth-app.js';
import { type JwksServer, startJwksServer } from '../helpers/jwks-server.js';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

async function keyPair(kid: string): Promise<{ jwk: JWK; privateKey: PrivateKey }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }, privateKey };
}

function token(privateKey: PrivateKey, kid: string, sub = 'user-1'): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: 'RS256', kid })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let app: AuthApp | undefined;
let jwks: JwksServer | undefined;
afterEach(async () => {
  await app?.close();
  await jwks?.close();
  app = undefined;
  jwks = undefined;
});

async function setup(keys: JWK[], jwt: Partial<JwtOptions> = {}) {
  jwks = await startJwksServer(keys);
  app = await startAuthApp({
    jwt: { algorithms: ['RS256'], jwksUri: jwks.uri, ...jwt } as JwtOptions,
  });
  return { app, jwks };
}

function bearer(value: string) {
  return { authorization: `Bearer ${value}` };
}

describe('remote JWKS', () => {
  it('fetches once, caches, and picks up a rotated key after the cooldown', async () => {
    const k1 = await keyPair('k1');
    const k2 = await keyPair('k2');
    const { app, jwks } = await setup([k1.jwk], { jwksCooldown: '200ms' });
    for (let i = 0; i < 5; i++) {
      expect((await app.get('/api/x', bearer(await token(k1.privateKey, 'k1')))).status).toBe(200);
    }
    expect(jwks.fetches).toBe(1);
    jwks.setKeys([k2.jwk]);
    await sleep(250);
    const rotated = await app.get(
      '/api/x',
      bearer(await token(k2.privateKey, 'k2', 'after-rotation')),
    );
    expect(rotated.status).toBe(200);
    expect(jwks.fetches).toBe(2);
    expect(app.upstream.received.at(-1)?.headers['x-consumer-id']).toBe('after-rotation');
  });

  it('a flood of unknown kids costs at most one fetch per cooldown', async () => {
    const k1 = await keyPair('k1');
    const stranger = await keyPair('unused');
    const { app, jwks } = await setup([k1.jwk], { jwksCooldown: '1s' });
    expect((await app.get('/api/x', bearer(await token(k1.privateKey, 'k1')))).status).toBe(200);
    expect(jwks.fetches).toBe(1);
    const tokens = await Promise.all(
      Array.from({ length: 100 }, () => token(stranger.privateKey, randomUUID())),
    );
    await sleep(1_050);
    const flood = () => Promise.all(tokens.map((t) => app.get('/api/x', bearer(t))));
    // The cooldown has passed: the first unknown kid refetches once; the others wait for that
    // fetch or are refused without one. Bound: one fetch per started cooldown (1s) of flooding.
    const flooded = async () => {
      const before = jwks.fetches;
      const started = Date.now();
      const answers = await flood();
      expect(answers.every((r) => r.status === 401)).toBe(true);
      return {
        fetched: jwks.fetches - before,
        bound: 1 + Math.floor((Date.now() - started) / 1_000),
      };
    };
    const first = await flooded();
    expect(first.fetched).toBeGreaterThanOrEqual(1);
    expect(first.fetched).toBeLessThanOrEqual(first.bound);
    const second = await flooded();
    expect(second.fetched).toBeLessThanOrEqual(second.bound);
    expect(jwks.fetches).toBeLessThan(10);
    expect(app.upstream.received).toHaveLength(1);
    const reasons = new Set(
      app.events.flatMap((e) => (e.type === 'auth.failed' ? [e.reason] : [])),
    );
    expect(reasons).toEqual(new Set(['invalid_token']));
    // The known key is unaffected by the flood.
    expect((await app.get('/api/x', bearer(await token(k1.privateKey, 'k1')))).status).toBe(200);
  });

  it('keeps the last good keys when the server goes down; new kids are refused fast', async () => {
    const k1 = await keyPair('k1');
    const k2 = await keyPair('k2');
    const { app, jwks } = await setup([k1.jwk], { jwksCooldown: '100ms', jwksMaxAge: '100ms' });
    expect((await app.get('/api/x', bearer(await token(k1.privateKey, 'k1')))).status).toBe(200);
    await jwks.stop();
    await sleep(150);
    // Stale keys trigger a background refresh that fails; the known key keeps working.
    for (let i = 0; i < 3; i++) {
      expect((await app.get('/api/x', bearer(await token(k1.privateKey, 'k1')))).status).toBe(200);
      await sleep(120);
    }
    const started = Date.now();
    const res = await app.get('/api/x', bearer(await token(k2.privateKey, 'k2')));
    expect(res.status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('a hanging JWKS endpoint is bounded by jwksTimeout, and fails cleanly', async () => {
    const k1 = await keyPair('k1');
    const { app, jwks } = await setup([k1.jwk], { jwksTimeout: '300ms', jwksCooldown: '1m' });
    jwks.setMode('hang');
    const started = Date.now();
    const res = await app.get('/api/x', bearer(await token(k1.privateKey, 'k1')));
    const took = Date.now() - started;
    expect(res.status).toBe(401);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2_000);
    expect(app.events.at(-1)).toMatchObject({ type: 'auth.failed', reason: 'jwks_unavailable' });
    // Within the cooldown, nothing is fetched again and the answer is immediate.
    const again = Date.now();
    expect((await app.get('/api/x', bearer(await token(k1.privateKey, 'k1')))).status).toBe(401);
    expect(Date.now() - again).toBeLessThan(250);
    expect(jwks.fetches).toBe(1);
    expect(app.upstream.received).toHaveLength(0);
  });

  it('close() aborts a hanging fetch: the waiting request is answered, nothing hangs', async () => {
    const k1 = await keyPair('k1');
    const { app, jwks } = await setup([k1.jwk], { jwksTimeout: '30s' });
    jwks.setMode('hang');
    const pending = app.get('/api/x', bearer(await token(k1.privateKey, 'k1')));
    await sleep(150);
    const started = Date.now();
    await app.middleware.close();
    const res = await pending;
    expect(res.status).toBe(401);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(app.upstream.received).toHaveLength(0);
  });

  it('recovers when an erroring endpoint comes back after the cooldown', async () => {
    const k1 = await keyPair('k1');
    const { app, jwks } = await setup([k1.jwk], { jwksCooldown: '150ms' });
    jwks.setMode('error');
    expect((await app.get('/api/x', bearer(await token(k1.privateKey, 'k1')))).status).toBe(401);
    jwks.setMode('ok');
    await sleep(200);
    expect((await app.get('/api/x', bearer(await token(k1.privateKey, 'k1')))).status).toBe(200);
    expect(jwks.fetches).toBe(2);
  });

  it('concurrent first requests share one fetch', async () => {
    const k1 = await keyPair('k1');
    const { app, jwks } = await setup([k1.jwk]);
    const t = await token(k1.privateKey, 'k1');
    const all = await Promise.all(Array.from({ length: 20 }, () => app.get('/api/x', bearer(t))));
    expect(all.every((r) => r.status === 200)).toBe(true);
    expect(jwks.fetches).toBe(1);
  });
});
