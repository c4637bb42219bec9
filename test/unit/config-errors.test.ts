import { describe, expect, it } from 'vitest';
import { authenticate } from '../../src/auth/authenticate.js';
import { GatewayConfigError } from '../../src/errors.js';
import { createGateway } from '../../src/gateway.js';
import { route } from '../../src/route/route.js';
import { type GatewayConfig, parseGatewayConfig } from '../../src/schema/gateway.js';
import { describeValue, editDistance } from '../../src/schema/parse.js';
import type { GatewayEvent } from '../../src/types.js';
import { configErrorOf } from '../helpers/config-error.js';

// How configuration mistakes are reported: every problem with its path and code, messages that
// show the value received when it is the problem (never a secret), the closest name for a typo.

const target = 'http://127.0.0.1:8081';

describe('GatewayConfigError.issues', () => {
  it('lists every problem found, the first being the error’s own', () => {
    const err = configErrorOf(() =>
      parseGatewayConfig({
        fallthrough: 'no',
        routes: [
          { path: '/a', target: 'ftp://a' },
          { path: '/b', target, timeout: 'soon', colour: 'red' },
        ],
      }),
    );
    expect(err.issues.map((i) => [i.field, i.code])).toEqual([
      ['routes[0].target', 'ERR_CONFIG_INVALID_TARGET'],
      ['routes[1].timeout', 'ERR_CONFIG_INVALID_DURATION'],
      ['routes[1].colour', 'ERR_CONFIG_UNKNOWN_OPTION'],
      ['fallthrough', 'ERR_CONFIG_INVALID_OPTION'],
    ]);
    expect(err.field).toBe('routes[0].target');
    expect(err.code).toBe('ERR_CONFIG_INVALID_TARGET');
    expect(err.message).toBe(
      `routes[0].target: ${err.issues[0]?.message} (and 3 more problems: see error.issues)`,
    );
    expect(Object.isFrozen(err.issues)).toBe(true);
  });

  it('holds the single problem of an error made by hand', () => {
    const err = new GatewayConfigError('routes[0].path', 'is required', 'ERR_CONFIG_INVALID_PATH');
    expect(err.issues).toEqual([
      { field: 'routes[0].path', code: 'ERR_CONFIG_INVALID_PATH', message: 'is required' },
    ]);
    expect(err.message).toBe('routes[0].path: is required');
  });
});

describe('messages', () => {
  it('suggests the closest known name for an unknown one', () => {
    const err = configErrorOf(() => route({ path: '/x', target, timout: '5s' } as never));
    expect(err.field).toBe('timout');
    expect(err.code).toBe('ERR_CONFIG_UNKNOWN_OPTION');
    expect(err.message).toBe("timout: unknown option; did you mean 'timeout'?");
    const far = configErrorOf(() => route({ path: '/x', target, colour: 'red' } as never));
    expect(far.message).toMatch(/^colour: unknown option \(known: name, path, methods, /);
  });

  it('points to the right option for one that belongs elsewhere', () => {
    const err = configErrorOf(() =>
      createGateway({ routes: [{ path: '/x', target, proxy: { pathRewrite: {} } as never }] }),
    );
    expect(err.code).toBe('ERR_CONFIG_INVALID_OPTION');
    expect(err.message).toBe(
      'routes[0].proxy.pathRewrite: is not accepted here: use the route option `rewrite`',
    );
  });

  it('says an unset environment variable is the likely cause of undefined', () => {
    // What `key: process.env.ALICE_KEY` gives when ALICE_KEY is not set.
    const err = configErrorOf(() =>
      createGateway({
        auth: { apiKey: { keys: [{ id: 'alice', key: undefined as unknown as string }] } },
        routes: [{ path: '/x', target: undefined as unknown as string }],
      }),
    );
    expect(err.issues.map((i) => [i.field, i.message])).toEqual([
      [
        'auth.apiKey.keys[0].key',
        'needs key or hash (hashApiKey(key)) (got undefined — is the environment variable set?)',
      ],
      [
        'routes[0].target',
        expect.stringContaining('(got undefined — is the environment variable set?)'),
      ],
    ]);
    // A key that is simply missing is reported as missing.
    const missing = configErrorOf(() => authenticate({ apiKey: { keys: [{ id: 'a' } as never] } }));
    expect(missing.message).toBe('apiKey.keys[0]: needs key or hash (hashApiKey(key))');
  });

  it('shows the value received when it is the problem', () => {
    expect(configErrorOf(() => route({ path: '/x', target, retries: 11 })).message).toBe(
      'retries: must be an integer between 0 and 10 (got 11)',
    );
    expect(
      configErrorOf(() => route({ path: '/x', target, preserveHost: 'yes' as never })).message,
    ).toBe("preserveHost: must be true or false (got 'yes')");
    expect(configErrorOf(() => route({ path: '/x', target, timeout: 'soon' })).message).toContain(
      "(got 'soon')",
    );
  });

  it('never echoes a value that may be a secret, only its type and length', () => {
    const secrets = ['not-a-sha256-but-secret', 'short-secret-xyz', 'user:pa55w0rd'];
    const errors = [
      configErrorOf(() =>
        authenticate({ apiKey: { keys: [{ id: 'a', hash: secrets[0] as string }] } }),
      ),
      configErrorOf(() =>
        authenticate({ jwt: { algorithms: ['HS256'], secret: secrets[1] as string } }),
      ),
      configErrorOf(() => route({ path: '/x', target: `ftp://${secrets[2]}@a` })),
    ];
    expect(errors[0]?.message).toContain('(got a string of 23 characters)');
    for (const err of errors) {
      for (const secret of secrets) expect(err.message).not.toContain(secret);
      expect(JSON.stringify(err.issues)).not.toContain('pa55w0rd');
    }
    expect(describeValue('k-123', true)).toBe('a string of 5 characters');
    expect(describeValue('http://u:pw@host/x', false)).toBe("'http://…@host/x'");
  });

  it('recognises Express 4 route syntax and suggests the path-to-regexp 8 form', () => {
    const err = configErrorOf(() => createGateway({ routes: [{ path: '/public/*', target }] }));
    expect(err.field).toBe('routes[0].path');
    expect(err.code).toBe('ERR_CONFIG_INVALID_PATH');
    expect(err.message).toContain("'/public/*path'");
    expect(err.message).toContain("'/public{/*path}'");
    expect(configErrorOf(() => route({ path: '/users/:id?', target })).message).toContain(
      "'/users{/:id}'",
    );
  });

  it('measures names by edits, a swap counting once', () => {
    expect(editDistance('wieght', 'weight')).toBe(1);
    expect(editDistance('limitt', 'limit')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });
});

describe('parseGatewayConfig', () => {
  it('returns warnings instead of emitting them, so an update can parse without side effects', () => {
    const events: GatewayEvent[] = [];
    const config: GatewayConfig = {
      rateLimit: { limit: 5, window: 60 },
      routes: [{ path: '/x', target, timeout: 500 }],
      onEvent: (event) => events.push(event),
    };
    const first = parseGatewayConfig(config);
    const second = parseGatewayConfig(config);
    expect(events).toEqual([]);
    expect(first.warnings).toEqual([
      { field: 'rateLimit.window', message: expect.stringContaining("did you mean '60s'?") },
      { field: 'routes[0].timeout', message: expect.stringContaining("did you mean '500s'?") },
    ]);
    expect(second.warnings).toEqual(first.warnings);
    // createGateway emits them, as config.warning events.
    createGateway(config)
      .close()
      .catch(() => {});
    expect(events.flatMap((e) => (e.type === 'config.warning' ? [e.field] : []))).toEqual([
      'rateLimit.window',
      'routes[0].timeout',
    ]);
  });

  it('gives the resolved options the gateway compiles, defaults applied, without changing the input', () => {
    const input = {
      auth: { apiKey: { keys: [{ id: 'alice', key: 'k' }] } },
      routes: [
        { path: '/x', target, methods: ['get'] },
        { path: '/y', target, auth: false as const },
      ],
    };
    const frozen = JSON.stringify(input);
    const resolved = parseGatewayConfig(input);
    expect(JSON.stringify(input)).toBe(frozen);
    expect(resolved.fallthrough).toBe(true);
    expect(resolved.rateLimit).toBeUndefined();
    expect(resolved.routes[0]).toMatchObject({
      methods: ['GET', 'HEAD'],
      timeoutMs: 30_000,
      connectTimeoutMs: 5_000,
      auth: { optional: false, scopes: [] },
    });
    expect(resolved.routes[1]?.auth).toBeNull();
    // The key itself is not kept: only its digest.
    expect(JSON.stringify(resolved.auth)).not.toContain('"k"');
  });
});
