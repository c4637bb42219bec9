import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { GatewayConfigError } from '../../src/errors.js';
import { parseGatewayConfig } from '../../src/schema/gateway.js';
import { configJsonSchema } from '../../src/schema/json-schema.js';

// The published JSON Schema (portcullis/config.schema.json) against real configs, checked by a
// JSON Schema validator that knows nothing of zod, and against the runtime schema it comes from.

const schema = configJsonSchema('0.0.0-test');
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(schema);

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(
    readFileSync(new URL(`../fixtures/configs/${name}`, import.meta.url), 'utf8'),
  ) as Record<string, unknown>;
}

function runtimeAccepts(config: unknown): boolean {
  try {
    parseGatewayConfig(config);
    return true;
  } catch (err) {
    if (err instanceof GatewayConfigError) return false;
    throw err;
  }
}

const route = { path: '/x', target: 'http://127.0.0.1:8081' };

describe('portcullis/config.schema.json', () => {
  it('is a draft 2020-12 schema with an id, a title and no metadata of ours', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toBe('urn:portcullis:config-schema:0.0.0-test');
    expect(schema.title).toBeTypeOf('string');
    const text = JSON.stringify(schema);
    for (const key of ['"codeOnly"', '"refusedKeys"', '"secret":true', '"code":', '"readOnly"']) {
      expect(text).not.toContain(key);
    }
  });

  it('covers the data part only: code-only options are left out', () => {
    const top = schema.properties as Record<string, unknown>;
    expect(Object.keys(top).sort()).toEqual([
      '$schema',
      'auth',
      'fallthrough',
      'rateLimit',
      'routes',
    ]);
    const text = JSON.stringify(schema);
    for (const codeOnly of [
      '"store"',
      '"onEvent"',
      '"errorResponse"',
      '"verify"',
      '"skip"',
      '"clock"',
      '"agent"',
      '"plugins"',
      '"on"',
    ]) {
      expect(text, codeOnly).not.toContain(codeOnly);
    }
  });

  it.each(['seed.json', 'jwt-redis.json'])('accepts %s, as the runtime schema does', (name) => {
    const config = fixture(name);
    expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    expect(runtimeAccepts(config)).toBe(true);
  });

  it('refuses typos and wrong types in a real config', () => {
    const typo = fixture('seed.json');
    (typo.routes as Array<Record<string, unknown>>)[0]!.timout = '5s';
    expect(validate(typo)).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({
      keyword: 'additionalProperties',
      params: { additionalProperty: 'timout' },
    });

    const wrongType = fixture('jwt-redis.json');
    (wrongType.rateLimit as Record<string, unknown>).onStoreError = 'ignore';
    expect(validate(wrongType)).toBe(false);
  });

  // The two agree on everything the JSON Schema can say; the table is the proof.
  it.each<[string, unknown, boolean]>([
    ['minimal', { routes: [route] }, true],
    ['no routes', {}, false],
    ['empty routes', { routes: [] }, false],
    ['unknown top-level option', { routes: [route], fallthru: false }, false],
    ['unknown route option', { routes: [{ ...route, timout: '1s' }] }, false],
    ['route without target', { routes: [{ path: '/x' }] }, false],
    ['target as a number', { routes: [{ ...route, target: 8081 }] }, false],
    [
      'several weighted targets',
      { routes: [{ ...route, target: [{ url: 'http://a', weight: 2 }, 'http://b'] }] },
      true,
    ],
    ['weight 0', { routes: [{ ...route, target: [{ url: 'http://a', weight: 0 }] }] }, false],
    ['weight 1.5', { routes: [{ ...route, target: [{ url: 'http://a', weight: 1.5 }] }] }, false],
    [
      'durations as strings and numbers',
      { routes: [{ ...route, timeout: '1.5s', connectTimeout: 2000 }] },
      true,
    ],
    ['duration in words', { routes: [{ ...route, timeout: 'soon' }] }, false],
    ['negative duration', { routes: [{ ...route, timeout: -1 }] }, false],
    ['retries 11', { routes: [{ ...route, retries: 11 }] }, false],
    ['methods empty', { routes: [{ ...route, methods: [] }] }, false],
    ['preserveHost as a string', { routes: [{ ...route, preserveHost: 'yes' }] }, false],
    [
      'route auth optional',
      {
        auth: { apiKey: { keys: [{ id: 'a', key: 'k' }] } },
        routes: [{ ...route, auth: 'optional' }],
      },
      true,
    ],
    [
      'route auth "maybe"',
      {
        auth: { apiKey: { keys: [{ id: 'a', key: 'k' }] } },
        routes: [{ ...route, auth: 'maybe' }],
      },
      false,
    ],
    ['rate limit false', { rateLimit: false, routes: [route] }, true],
    ['rate limit true', { rateLimit: true, routes: [route] }, false],
    [
      'unknown algorithm',
      { rateLimit: { limit: 1, window: '1s', algorithm: 'leaky' }, routes: [route] },
      false,
    ],
    ['limit 0', { rateLimit: { limit: 0, window: '1s' }, routes: [route] }, false],
    [
      'ipv6Subnet false',
      { rateLimit: { limit: 1, window: '1s', ipv6Subnet: false }, routes: [route] },
      true,
    ],
    [
      'ipv6Subnet 129',
      { rateLimit: { limit: 1, window: '1s', ipv6Subnet: 129 }, routes: [route] },
      false,
    ],
    [
      'headers true',
      { rateLimit: { limit: 1, window: '1s', headers: true }, routes: [route] },
      false,
    ],
    ['key ip', { rateLimit: { limit: 1, window: '1s', key: 'ip' }, routes: [route] }, true],
    [
      'key cookie',
      { rateLimit: { limit: 1, window: '1s', key: 'cookie' }, routes: [route] },
      false,
    ],
    [
      'plans as arrays',
      {
        rateLimit: { limit: 1, window: '1s', plans: { pro: [{ limit: 2, window: '1s' }] } },
        routes: [route],
      },
      true,
    ],
    [
      'plan policy with a typo',
      {
        rateLimit: { limit: 1, window: '1s', plans: { pro: { limit: 2, windw: '1s' } } },
        routes: [route],
      },
      false,
    ],
    [
      'jwt algorithm none',
      { auth: { jwt: { algorithms: ['none'], jwksUri: 'https://i/j' } }, routes: [route] },
      false,
    ],
    [
      'jwt algorithm rs256',
      { auth: { jwt: { algorithms: ['rs256'], jwksUri: 'https://i/j' } }, routes: [route] },
      false,
    ],
    [
      'api key entry with a typo',
      { auth: { apiKey: { keys: [{ id: 'a', kee: 'k' }] } }, routes: [route] },
      false,
    ],
    [
      'hash not hex',
      { auth: { apiKey: { keys: [{ id: 'a', hash: 'xyz' }] } }, routes: [route] },
      false,
    ],
    [
      'scope with a space',
      { auth: { apiKey: { keys: [{ id: 'a', key: 'k' }] }, scopes: ['a b'] }, routes: [route] },
      false,
    ],
    [
      'consumer header with a space',
      {
        auth: { apiKey: { keys: [{ id: 'a', key: 'k' }] }, consumerHeaders: { id: 'x y' } },
        routes: [route],
      },
      false,
    ],
    [
      'basic user with a colon',
      { auth: { basic: { users: [{ username: 'a:b', passwordHash: 'h' }] } }, routes: [route] },
      false,
    ],
    ['proxy pathRewrite', { routes: [{ ...route, proxy: { pathRewrite: {} } }] }, false],
    [
      'proxy cookieDomainRewrite map',
      { routes: [{ ...route, proxy: { cookieDomainRewrite: { 'a.example': 'b.example' } } }] },
      true,
    ],
    [
      'header set to a number',
      { routes: [{ ...route, headers: { request: { set: { 'x-a': 1 } } } }] },
      false,
    ],
    ['$schema names the schema', { $schema: './config.schema.json', routes: [route] }, true],
  ])('%s: both say %s', (_name, config, valid) => {
    expect(validate(config), JSON.stringify(validate.errors)).toBe(valid);
    expect(runtimeAccepts(config)).toBe(valid);
  });

  // What only code can judge (a URL's parts, a pattern's structure, a PEM, cross-field rules) is
  // refused at run time; the JSON Schema lets it through, never the other way round.
  it.each<[string, unknown]>([
    ['target not http', { routes: [{ ...route, target: 'ftp://a' }] }],
    ['Express 4 path', { routes: [{ ...route, path: '/public/*' }] }],
    [
      'rewrite with an unknown param',
      { routes: [{ ...route, path: '/x/:id', rewrite: '/y/:other' }] },
    ],
    [
      'jwt with two key sources',
      {
        auth: { jwt: { algorithms: ['RS256'], publicKey: 'pem', jwksUri: 'https://i/j' } },
        routes: [route],
      },
    ],
    ['route auth without gateway auth', { routes: [{ ...route, auth: true }] }],
  ])('%s: only the runtime refuses it', (_name, config) => {
    expect(validate(config)).toBe(true);
    expect(runtimeAccepts(config)).toBe(false);
  });
});
