import { describe, expect, it } from 'vitest';
import { GatewayConfigError } from '../../src/errors.js';
import { compileHostMatcher } from '../../src/route/host-matcher.js';

const field = 'routes[0].host';

describe('compileHostMatcher', () => {
  it.each<[string, string | undefined, boolean]>([
    ['api.example.com', 'api.example.com', true],
    ['api.example.com', 'API.Example.COM', true],
    ['api.example.com', 'api.example.com:8443', true],
    ['api.example.com', 'api.example.com.', true],
    ['api.example.com', 'api.example.com.:80', true],
    ['API.example.com.', 'api.example.com', true],
    ['api.example.com', 'example.com', false],
    ['api.example.com', 'xapi.example.com', false],
    ['api.example.com', 'api.example.com.evil', false],
    ['api.example.com', 'api.example.co', false],
    ['api.example.com', '', false],
    ['api.example.com', undefined, false],
    ['127.0.0.1', '127.0.0.1:3000', true],
    ['127.0.0.1', '127.0.0.2:3000', false],
    ['[::1]', '[::1]:8080', true],
    ['[::1]', '[::1]', true],
    ['::1', '[::1]:8080', true],
    ['[2001:DB8::1]', '[2001:db8::1]:443', true],
    ['[::1]', '[::2]:8080', false],
    ['[::1]', '::1', false],
    ['[::1]', '[::1', false],
    // wildcard: one or more labels, never the apex
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'A.B.Example.Com:9000', true],
    ['*.example.com', 'a-1_b.example.com.', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', '.example.com', false],
    ['*.example.com', 'a..example.com', false],
    ['*.example.com', 'evil/.example.com', false],
    ['*.example.com', 'evil.com@a.example.com', false],
    ['*.example.com', 'aexample.com', false],
    ['*.example.com', 'a.example.com.evil', false],
    ['*.example.com', undefined, false],
  ])('%s vs Host %j → %s', (host, header, expected) => {
    expect(compileHostMatcher(host, field)(header)).toBe(expected);
  });

  it.each([
    '',
    '   ',
    '*',
    '*.',
    'a.*.example.com',
    'example.com:8080',
    'http://example.com',
    'example.com/x',
    'exa mple.com',
    '[::1]:8080',
    '[zz::1]',
    'a..b',
  ])('refuses the host option %j', (host) => {
    let error: unknown;
    try {
      compileHostMatcher(host, field);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GatewayConfigError);
    expect((error as GatewayConfigError).field).toBe(field);
    expect((error as GatewayConfigError).code).toBe('ERR_CONFIG_INVALID_OPTION');
  });
});
