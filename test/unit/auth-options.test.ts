import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authenticate } from '../../src/auth/authenticate.js';
import { hashApiKey } from '../../src/auth/hash-api-key.js';
import { GatewayConfigError } from '../../src/errors.js';
import { createGateway } from '../../src/gateway.js';
import type { AuthOptions } from '../../src/schema/auth.js';
import type { GatewayEvent } from '../../src/types.js';

const SECRET = 'hs-secret-that-is-long-enough-0123456789';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const RSA_PRIVATE_PEM = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const EC_PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

/** Options as a user might mistype them; the factory must reject them at runtime. */
function configError(options: unknown, field = 'auth'): GatewayConfigError {
  try {
    if (field === '') authenticate(options as AuthOptions);
    else
      createGateway({ auth: options as AuthOptions, routes: [{ path: '/x', target: 'http://a' }] });
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayConfigError);
    return err as GatewayConfigError;
  }
  throw new Error('expected a GatewayConfigError');
}

describe('auth option validation', () => {
  it.each<[string, unknown, string]>([
    ['no strategy', {}, 'auth'],
    ['unknown top-level key', { apiKey: { keys: [] }, scope: ['x'] }, 'auth.scope'],
    ['optional not boolean', { apiKey: { keys: [] }, optional: 'yes' }, 'auth.optional'],
    ['scope with a space', { apiKey: { keys: [] }, scopes: ['a b'] }, 'auth.scopes[0]'],
    ['bad realm', { apiKey: { keys: [] }, realm: 'a"b' }, 'auth.realm'],
    ['onEvent inside the gateway', { apiKey: { keys: [] }, onEvent: () => {} }, 'auth.onEvent'],
    [
      'consumer header names equal',
      { apiKey: { keys: [] }, consumerHeaders: { id: 'x-a', scopes: 'X-A' } },
      'auth.consumerHeaders',
    ],
    [
      'consumer header not a token',
      { apiKey: { keys: [] }, consumerHeaders: { id: 'x a' } },
      'auth.consumerHeaders.id',
    ],
    ['apiKey unknown key', { apiKey: { keys: [], headers: 'x' } }, 'auth.apiKey.headers'],
    ['apiKey keys missing', { apiKey: {} }, 'auth.apiKey.keys'],
    [
      'apiKey header reserved',
      { apiKey: { keys: [], header: 'Authorization' } },
      'auth.apiKey.header',
    ],
    ['apiKey query with odd chars', { apiKey: { keys: [], query: 'a&b' } }, 'auth.apiKey.query'],
    ['key entry without key or hash', { apiKey: { keys: [{ id: 'a' }] } }, 'auth.apiKey.keys[0]'],
    [
      'key and hash both',
      { apiKey: { keys: [{ id: 'a', key: 'k', hash: hashApiKey('k') }] } },
      'auth.apiKey.keys[0]',
    ],
    ['bad hash', { apiKey: { keys: [{ id: 'a', hash: 'abc' }] } }, 'auth.apiKey.keys[0].hash'],
    [
      'duplicate id',
      {
        apiKey: {
          keys: [
            { id: 'a', key: 'k1' },
            { id: 'a', key: 'k2' },
          ],
        },
      },
      'auth.apiKey.keys[1].id',
    ],
    [
      'duplicate key (plain and hashed)',
      {
        apiKey: {
          keys: [
            { id: 'a', key: 'k1' },
            { id: 'b', hash: hashApiKey('k1') },
          ],
        },
      },
      'auth.apiKey.keys[1]',
    ],
    [
      'metadata not an object',
      { apiKey: { keys: [{ id: 'a', key: 'k', metadata: 3 }] } },
      'auth.apiKey.keys[0].metadata',
    ],
    ['jwt without algorithms', { jwt: { secret: SECRET } }, 'auth.jwt.algorithms'],
    ['jwt none', { jwt: { algorithms: ['none'], secret: SECRET } }, 'auth.jwt.algorithms[0]'],
    [
      'jwt NONE',
      { jwt: { algorithms: ['HS256', 'NONE'], secret: SECRET } },
      'auth.jwt.algorithms[1]',
    ],
    [
      'jwt nOnE',
      { jwt: { algorithms: ['nOnE'], jwksUri: 'https://idp.test/jwks' } },
      'auth.jwt.algorithms[0]',
    ],
    [
      'jwt unknown alg',
      { jwt: { algorithms: ['rs256'], publicKey: RSA_PEM } },
      'auth.jwt.algorithms[0]',
    ],
    ['jwt no key source', { jwt: { algorithms: ['RS256'] } }, 'auth.jwt'],
    [
      'jwt two key sources',
      { jwt: { algorithms: ['RS256'], publicKey: RSA_PEM, jwksUri: 'https://x.test/j' } },
      'auth.jwt',
    ],
    [
      'jwt HS with a public key',
      { jwt: { algorithms: ['HS256'], publicKey: RSA_PEM } },
      'auth.jwt.algorithms',
    ],
    [
      'jwt RS with a secret',
      { jwt: { algorithms: ['RS256'], secret: SECRET } },
      'auth.jwt.algorithms',
    ],
    ['jwt short secret', { jwt: { algorithms: ['HS256'], secret: 'short' } }, 'auth.jwt.secret'],
    [
      'jwt bad PEM',
      { jwt: { algorithms: ['RS256'], publicKey: 'not a pem' } },
      'auth.jwt.publicKey',
    ],
    [
      'jwt private PEM',
      { jwt: { algorithms: ['RS256'], publicKey: RSA_PRIVATE_PEM } },
      'auth.jwt.publicKey',
    ],
    [
      'jwt key type mismatch',
      { jwt: { algorithms: ['ES256'], publicKey: RSA_PEM } },
      'auth.jwt.algorithms',
    ],
    [
      'jwt curve mismatch',
      { jwt: { algorithms: ['ES384'], publicKey: EC_PEM } },
      'auth.jwt.algorithms',
    ],
    [
      'jwt jwksUri not http',
      { jwt: { algorithms: ['RS256'], jwksUri: 'file:///etc/passwd' } },
      'auth.jwt.jwksUri',
    ],
    [
      'jwt jwks option without jwksUri',
      { jwt: { algorithms: ['RS256'], publicKey: RSA_PEM, jwksTimeout: '1s' } },
      'auth.jwt.jwksTimeout',
    ],
    [
      'jwt bad clockTolerance',
      { jwt: { algorithms: ['HS256'], secret: SECRET, clockTolerance: 'soon' } },
      'auth.jwt.clockTolerance',
    ],
    [
      'jwt empty audience list',
      { jwt: { algorithms: ['HS256'], secret: SECRET, audience: [] } },
      'auth.jwt.audience',
    ],
    [
      'jwt unknown key',
      { jwt: { algorithms: ['HS256'], secret: SECRET, issuers: 'x' } },
      'auth.jwt.issuers',
    ],
    ['basic users not a list', { basic: { users: 'ops' } }, 'auth.basic.users'],
    [
      'basic bad hash',
      { basic: { users: [{ username: 'ops', passwordHash: 'plain' }] } },
      'auth.basic.users[0].passwordHash',
    ],
    [
      'basic colon in username',
      { basic: { users: [{ username: 'a:b', passwordHash: 'x' }] } },
      'auth.basic.users[0].username',
    ],
    ['verify not a function', { verify: 'yes' }, 'auth.verify'],
  ])('%s → %s', (_name, options, field) => {
    const err = configError(options);
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });

  it('standalone paths have no prefix', () => {
    expect(() => authenticate({} as AuthOptions)).toThrow(GatewayConfigError);
    const err = configError({ apiKey: { keys: [{ id: 'a' }] } }, '');
    expect(err.field).toBe('apiKey.keys[0]');
  });

  it('never puts a secret, key or PEM into an error message', () => {
    const messages = [
      configError({ jwt: { algorithms: ['HS256'], secret: 'short-secret-xyz' } }).message,
      configError({
        apiKey: {
          keys: [
            { id: 'a', key: 'dup-key-123' },
            { id: 'b', key: 'dup-key-123' },
          ],
        },
      }).message,
      configError({ jwt: { algorithms: ['RS256'], publicKey: RSA_PRIVATE_PEM } }).message,
    ];
    for (const m of messages) {
      expect(m).not.toContain('short-secret-xyz');
      expect(m).not.toContain('dup-key-123');
      expect(m).not.toContain('MII');
    }
  });

  it('does not mutate the options object', () => {
    const options = {
      apiKey: { keys: [{ id: 'a', key: 'k', scopes: ['r'], metadata: { n: { deep: 1 } } }] },
    };
    const copy = structuredClone(options);
    authenticate(options);
    expect(options).toEqual(copy);
    expect(Object.isFrozen(options.apiKey.keys[0]!.metadata)).toBe(false);
  });

  it('warns (config.warning) about a JWKS over plain http to a non-loopback host', () => {
    const events: GatewayEvent[] = [];
    const mw = authenticate({
      jwt: { algorithms: ['RS256'], jwksUri: 'http://idp.example.com/jwks.json' },
      onEvent: (e) => events.push(e),
    });
    expect(events).toEqual([
      expect.objectContaining({ type: 'config.warning', field: 'jwt.jwksUri' }),
    ]);
    return mw.close();
  });

  it('accepts valid configurations of every kind', async () => {
    const ok: AuthOptions[] = [
      {
        apiKey: {
          keys: [
            { id: 'a', key: 'k' },
            { id: 'b', hash: hashApiKey('j').toUpperCase() },
          ],
        },
      },
      { apiKey: { keys: () => null, header: 'X-Key', query: 'api_key' } },
      {
        jwt: {
          algorithms: ['RS256', 'PS256'],
          publicKey: RSA_PEM,
          issuer: ['a', 'b'],
          clockTolerance: 0,
        },
      },
      { jwt: { algorithms: ['ES256'], publicKey: EC_PEM } },
      { jwt: { algorithms: ['RS256'], jwksUri: 'https://idp.test/jwks', jwksCooldown: '10s' } },
      { basic: { users: () => null, realm: 'r' } },
      { verify: () => null, optional: true, scopes: ['a:b'], realm: 'x' },
    ];
    for (const options of ok) {
      const mw = authenticate(options);
      expect(typeof mw).toBe('function');
      await mw.close();
    }
  });
});
