import type { IncomingMessage } from 'node:http';
import { IncomingMessage as Message } from 'node:http';
import { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayConfigError } from '../../src/errors.js';
import { normalizePath } from '../../src/route/normalize-path.js';
import { compilePathMatcher } from '../../src/route/path-matcher.js';
import { compileRewrite, type Rewriter } from '../../src/route/rewrite.js';

const field = 'routes[0].rewrite';
const req: IncomingMessage = new Message(new Socket());

/** Matches `path` with the real matcher, then rewrites: what route() does. */
function rewriteVia(pattern: string, template: string | Rewriter, path: string): string {
  const match = compilePathMatcher(pattern, { caseSensitive: true }, 'routes[0].path')(path);
  if (match === null) throw new Error(`${pattern} does not match ${path}`);
  return compileRewrite(template, pattern, field)({ path, params: match.params, req });
}

function configError(fn: () => unknown): GatewayConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayConfigError) return err;
    throw err;
  }
  throw new Error('expected a GatewayConfigError');
}

describe('compileRewrite with a template', () => {
  it.each([
    ['/public{/*path}', '/{*path}', '/public/a/b', '/a/b'],
    ['/public{/*path}', '/{*path}', '/public', '/'],
    ['/public{/*path}', '/{*path}', '/public/', '/'],
    ['/public{/*path}', '/{*path}', '/public/a/', '/a/'],
    ['/api/*path', '/v2/*path', '/api/x/y', '/v2/x/y'],
    ['/users/:id', '/accounts/:id/profile', '/users/42', '/accounts/42/profile'],
    ['/users/:id/*rest', '/u/:id{/*rest}', '/users/7/a/b', '/u/7/a/b'],
    ['/:a/:b', '/:b/:a', '/x/y', '/y/x'],
    ['/static', '/assets', '/static', '/assets'],
    // escapes survive exactly: no double encoding, nothing decoded into '/'
    ['/files/:name', '/f/:name', '/files/a%20b', '/f/a%20b'],
    ['/files/*path', '/f/*path', '/files/a%25zz/caf%C3%A9', '/f/a%25zz/caf%C3%A9'],
    ['/files/*path', '/f/*path', '/files/a;b/%3B', '/f/a;b/%3B'],
    ['/files/:name', '/f/:name', "/files/!$&'()*+,;=:@~", "/f/!$&'()*+,;=:@~"],
    // kinds converted between pattern and template
    ['/files/*path', '/f/:path', '/files/a/b', '/f/a/b'],
    ['/files/:name', '/f/*name', '/files/a', '/f/a'],
  ])('%s → %s: %s becomes %s', (pattern, template, path, expected) => {
    expect(rewriteVia(pattern, template, path)).toBe(expected);
  });

  it.each([
    ['/users/:id', 'users/:id', 'starting with'],
    ['/users/:id', '', 'starting with'],
    ['/users/:id', '/u/:uid', "'uid'"],
    ['/public{/*path}', '/*path', 'optional'],
    ['/users/:id', '/u/:', 'path-to-regexp'],
    ['/users/:id', '/u//:id', 'normalised'],
    ['/users/:id', '/u/../:id', 'normalised'],
    ['/users/:id', '/%7eu/:id', 'normalised'],
    ['/users/:id', '/u s/:id', 'normalised'],
  ])('refuses %s with rewrite %j', (pattern, template, words) => {
    const err = configError(() => compileRewrite(template, pattern, field));
    expect(err.code).toBe('ERR_CONFIG_INVALID_PATH');
    expect(err.field).toBe(field);
    expect(err.message).toContain(words);
  });

  it('refuses a rewrite that is neither a string nor a function', () => {
    const err = configError(() => compileRewrite(42 as unknown as string, '/x', field));
    expect(err.field).toBe(field);
  });
});

describe('compileRewrite properties', () => {
  it('strips a prefix without changing a single escape of the rest', () => {
    const pattern = '/public{/*path}';
    const match = compilePathMatcher(pattern, { caseSensitive: true }, 'routes[0].path');
    const rewrite = compileRewrite('/{*path}', pattern, field);
    const piece = fc.constantFrom(
      'a',
      '%20',
      '%25',
      '%2e',
      '%7E',
      '%C3%A9',
      ';',
      '..',
      '.',
      '/',
      '//',
      '%3B',
      'x.y',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const path = normalizePath(`/public/${pieces.join('')}`);
        if (path === null) return;
        const result = match(path);
        if (result === null) return; // e.g. '/public/..' resolved away from /public
        const rewritten = rewrite({ path, params: result.params, req });
        const rest = path.slice('/public'.length);
        expect(rewritten).toBe(rest === '' ? '/' : rest);
        // what the upstream gets is itself normal: nothing double-encoded or decoded
        expect(normalizePath(rewritten)).toBe(rewritten);
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('compileRewrite with a function', () => {
  it('receives the matched path, the raw params and the request', () => {
    let seen: unknown;
    const out = rewriteVia(
      '/users/:id{/*rest}',
      (ctx) => {
        seen = ctx;
        return `/v2${ctx.path}`;
      },
      '/users/a%20b/x/y',
    );
    expect(out).toBe('/v2/users/a%20b/x/y');
    expect(seen).toMatchObject({
      path: '/users/a%20b/x/y',
      params: { id: 'a%20b', rest: ['x', 'y'] },
    });
    expect((seen as { req: unknown }).req).toBe(req);
  });

  it.each<[string, unknown]>([
    ['a relative path', 'users/1'],
    ['an absolute URL', 'http://evil/x'],
    ['an empty string', ''],
    ['a query string', '/x?y=1'],
    ['a fragment', '/x#y'],
    ['a space', '/a b'],
    ['CRLF', '/a\r\nX-Injected: 1'],
    ['non-ASCII', '/café'],
    ['a non-string', 42],
    ['undefined', undefined],
  ])('throws a TypeError naming the field when it returns %s', (_what, value) => {
    const rewrite = compileRewrite(() => value as string, '/x', field);
    expect(() => rewrite({ path: '/x', params: {}, req })).toThrow(TypeError);
    expect(() => rewrite({ path: '/x', params: {}, req })).toThrow(field);
  });

  it('lets an exception of the function itself through', () => {
    const boom = new Error('boom');
    const rewrite = compileRewrite(
      () => {
        throw boom;
      },
      '/x',
      field,
    );
    expect(() => rewrite({ path: '/x', params: {}, req })).toThrow(boom);
  });
});
