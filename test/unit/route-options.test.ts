import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway.js';
import { usesProxyMiddleware } from '../../src/route/proxy.js';
import { route } from '../../src/route/route.js';
import { parseRouteOptions, type RouteOptions } from '../../src/schema/route.js';
import { configErrorOf } from '../helpers/config-error.js';

/** Route options as the second route of a gateway, where their paths start with `routes[1]`. */
function inGateway(options: unknown): void {
  createGateway({ routes: [{ path: '/a', target: 'http://a' }, options as RouteOptions] });
}

describe('route options', () => {
  it('applies the documented defaults', () => {
    const r = parseRouteOptions({ path: '/x', target: 'http://127.0.0.1:8080' }).value;
    expect(r).toMatchObject({
      methods: null,
      caseSensitive: false,
      timeoutMs: 30_000,
      connectTimeoutMs: 5_000,
      retries: 0,
      preserveHost: false,
      websocket: false,
      proxy: {},
    });
    expect(r.targets.map((t) => [t.url.href, t.weight])).toEqual([['http://127.0.0.1:8080/', 1]]);
  });

  it('upper-cases methods, adds HEAD to GET, parses durations and weights', () => {
    const r = parseRouteOptions({
      path: '/x',
      methods: ['get', 'post'],
      target: ['http://a:1', { url: 'https://b:2/base', weight: 3 }],
      timeout: '1.5s',
      connectTimeout: 1250,
      retries: 2,
    }).value;
    expect(r.methods).toEqual(['GET', 'POST', 'HEAD']);
    expect(r.targets.map((t) => t.weight)).toEqual([1, 3]);
    expect(r.timeoutMs).toBe(1500);
    expect(r.connectTimeoutMs).toBe(1250);
    expect(r.retries).toBe(2);
  });

  it.each([
    [{ path: '/x' }, 'routes[1].target', 'ERR_CONFIG_INVALID_TARGET'],
    [{ path: '/x', target: 'ftp://nope' }, 'routes[1].target', 'ERR_CONFIG_INVALID_TARGET'],
    [{ path: '/x', target: 'not a url' }, 'routes[1].target', 'ERR_CONFIG_INVALID_TARGET'],
    [{ path: '/x', target: 'http://a/?q=1' }, 'routes[1].target', 'ERR_CONFIG_INVALID_TARGET'],
    [{ path: '/x', target: [] }, 'routes[1].target', 'ERR_CONFIG_INVALID_TARGET'],
    [{ path: '/x', target: 'http://u:%zz@a' }, 'routes[1].target', 'ERR_CONFIG_INVALID_TARGET'],
    [
      { path: '/x', target: ['http://a', 'gopher://b'] },
      'routes[1].target[1]',
      'ERR_CONFIG_INVALID_TARGET',
    ],
    [
      { path: '/x', target: [{ url: 'http://a', weight: 0 }] },
      'routes[1].target[0].weight',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: [{ url: 'http://a', wieght: 2 }] },
      'routes[1].target[0].wieght',
      'ERR_CONFIG_UNKNOWN_OPTION',
    ],
    [{ target: 'http://a' }, 'routes[1].path', 'ERR_CONFIG_INVALID_PATH'],
    [
      { path: '/x', target: 'http://a', timeout: 'soon' },
      'routes[1].timeout',
      'ERR_CONFIG_INVALID_DURATION',
    ],
    [
      // Node's timers hold at most 2^31 - 1 ms; a longer one would fire at once.
      { path: '/x', target: 'http://a', timeout: '30d' },
      'routes[1].timeout',
      'ERR_CONFIG_INVALID_DURATION',
    ],
    [
      { path: '/x', target: 'http://a', connectTimeout: 2_147_483_648 },
      'routes[1].connectTimeout',
      'ERR_CONFIG_INVALID_DURATION',
    ],
    [
      { path: '/x', target: 'http://a', connectTimeout: -1 },
      'routes[1].connectTimeout',
      'ERR_CONFIG_INVALID_DURATION',
    ],
    [
      { path: '/x', target: 'http://a', retries: 1.5 },
      'routes[1].retries',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', methods: [] },
      'routes[1].methods',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', methods: ['GET', 'CONNECT'] },
      'routes[1].methods[1]',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', preserveHost: 'yes' },
      'routes[1].preserveHost',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', colour: 'red' },
      'routes[1].colour',
      'ERR_CONFIG_UNKNOWN_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', onEvent: () => {} },
      'routes[1].onEvent',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', headers: { request: { set: { 'bad name': 'v' } } } },
      'routes[1].headers.request.set.bad name',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      {
        path: '/x',
        target: 'http://a',
        headers: { response: { set: { 'x-a': 'v\r\nx-b: evil' } } },
      },
      'routes[1].headers.response.set.x-a',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      {
        path: '/x',
        target: 'http://a',
        headers: { request: { set: { 'Transfer-Encoding': 'chunked' } } },
      },
      'routes[1].headers.request.set.Transfer-Encoding',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', headers: { request: { set: { Expect: '100-continue' } } } },
      'routes[1].headers.request.set.Expect',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', proxy: { pathRewrite: {} } },
      'routes[1].proxy.pathRewrite',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', proxy: { ws: true } },
      'routes[1].proxy.ws',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', proxy: { on: { error: () => {} } } },
      'routes[1].proxy.on.error',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', proxy: { upgradeTimeout: 1000 } },
      'routes[1].proxy.upgradeTimeout',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', proxy: { http2: true } },
      'routes[1].proxy.http2',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', proxy: { followRedirects: 3 } },
      'routes[1].proxy.followRedirects',
      'ERR_CONFIG_INVALID_OPTION',
    ],
    [
      { path: '/x', target: 'http://a', proxy: { nonsense: 1 } },
      'routes[1].proxy.nonsense',
      'ERR_CONFIG_UNKNOWN_OPTION',
    ],
  ])('refuses %j naming %s', (options, field, code) => {
    const err = configErrorOf(() => inGateway(options));
    expect(err.field).toBe(field);
    expect(err.code).toBe(code);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });

  it('names fields without a prefix standalone, and checks path, host and rewrite at construction', () => {
    expect(configErrorOf(() => route({ path: '/x', target: 'nope' })).field).toBe('target');
    expect(configErrorOf(() => route({ path: 'no-slash', target: 'http://a' })).field).toBe('path');
    expect(
      configErrorOf(() => route({ path: '/x', host: 'a.com/path', target: 'http://a' })).field,
    ).toBe('host');
    expect(
      configErrorOf(() => route({ path: '/x/:id', rewrite: '/y/:other', target: 'http://a' }))
        .field,
    ).toBe('rewrite');
    expect(
      configErrorOf(() =>
        createGateway({
          routes: [
            { path: '/a', target: 'http://a' },
            { path: '/b', target: 'http://a' },
            { path: '/c', target: 'http://a' },
            { path: '/x', target: 'http://a', retries: -1 },
          ],
        }),
      ).field,
    ).toBe('routes[3].retries');
  });

  it('never echoes target credentials in an error', () => {
    const err = configErrorOf(() =>
      parseRouteOptions({ path: '/x', target: 'ftp://user:s3cret@a' }),
    );
    expect(err.message).not.toContain('s3cret');
  });

  it('passes the accepted http-proxy-middleware options through and does not mutate the input', () => {
    const input = {
      path: '/x',
      target: 'http://a',
      proxy: { cookieDomainRewrite: 'example.com', secure: false, on: { proxyRes: () => {} } },
    };
    const frozen = JSON.stringify(input);
    const r = parseRouteOptions(input).value;
    expect(r.proxy.cookieDomainRewrite).toBe('example.com');
    expect(r.proxy.secure).toBe(false);
    expect(JSON.stringify(input)).toBe(frozen);
  });

  it('sends through portcullis’ forwarder unless a proxy option other than agent is set', () => {
    expect(usesProxyMiddleware({})).toBe(false);
    expect(usesProxyMiddleware({ agent: new Agent() })).toBe(false);
    expect(usesProxyMiddleware({ secure: false })).toBe(true);
    expect(usesProxyMiddleware({ agent: new Agent(), cookieDomainRewrite: 'a.example' })).toBe(
      true,
    );
    expect(usesProxyMiddleware({ on: { proxyRes: () => {} } })).toBe(true);
  });
});
