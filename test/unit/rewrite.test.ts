import type { IncomingMessage } from 'node:http';
import { IncomingMessage as Message } from 'node:http';
import { Socket } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizePath } from '../../src/route/normalize-path.js';
import { compilePathMatcher } from '../../src/route/path-matcher.js';
import { compileRewrite, RewriteRefusedError, type Rewriter } from '../../src/route/rewrite.js';
import { configErrorOf } from '../helpers/config-error.js';

const field = 'routes[0].rewrite';
const req: IncomingMessage = new Message(new Socket());

/** Matches `path` with the real matcher, then rewrites: what route() does. */
function rewriteVia(pattern: string, template: string | Rewriter, path: string): string {
  const match = compilePathMatcher(pattern, { caseSensitive: true }, 'routes[0].path')(path);
  if (match === null) throw new Error(`${pattern} does not match ${path}`);
  return compileRewrite(template, pattern, field)({ path, params: match.params, req });
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
    const err = configErrorOf(() => compileRewrite(template, pattern, field));
    expect(err.code).toBe('ERR_CONFIG_INVALID_PATH');
    expect(err.field).toBe(field);
    expect(err.message).toContain(words);
  });

  it('normalises what the params make of the template', () => {
    // A param that is only part of a segment can be '.' or '..'; an empty wildcard segment makes '//'.
    expect(rewriteVia('/p/:a-y', '/x/:a/z', '/p/..-y')).toBe('/z');
    expect(rewriteVia('/p/:a-y', '/x/:a/z', '/p/.-y')).toBe('/x/z');
    expect(rewriteVia('/files/*path', '/x/*path/y', '/files/a/')).toBe('/x/a/y');
  });

  it('refuses a template result that climbs above the root', () => {
    expect(() => rewriteVia('/p/:a-y', '/:a', '/p/..-y')).toThrow(RewriteRefusedError);
    expect(() => rewriteVia('/p/:a-y', '/:a/:a/x', '/p/..-y')).toThrow(RewriteRefusedError);
  });

  it('refuses a rewrite that is neither a string nor a function', () => {
    const err = configErrorOf(() => compileRewrite(42 as unknown as string, '/x', field));
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

  it.each([
    ['/a/./b/../c', '/a/c'],
    ['//a///b', '/a/b'],
    ['/%7euser/%41', '/~user/A'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a"b', '/a%22b'],
    ['/x/..', '/'],
    ['/already/normal', '/already/normal'],
  ])('normalises its result like a client path: %j → %j', (value, expected) => {
    const rewrite = compileRewrite(() => value, '/x', field);
    expect(rewrite({ path: '/x', params: {}, req })).toBe(expected);
  });

  it.each<[string, unknown, string]>([
    ['a relative path', 'users/1', 'not_origin_form'],
    ['an absolute URL', 'http://evil/x', 'not_origin_form'],
    ['an empty string', '', 'not_origin_form'],
    ['a path above the root', '/..', 'above_root'],
    ['a path climbing above the root', '/a/../../etc/passwd', 'above_root'],
    ['an encoded dot segment above the root', '/%2e%2e/x', 'above_root'],
    ['a backslash', '/a\\b', 'backslash'],
    ['a NUL', '/a\u0000b', 'nul'],
    ['an encoded NUL', '/a%00b', 'nul'],
    ['an encoded slash', '/a%2Fb', 'encoded_separator'],
    ['an encoded backslash', '/a%5cb', 'encoded_separator'],
    ['an invalid escape', '/a%zz', 'invalid_escape'],
    ['a query string', '/x?y=1', 'fragment_or_query'],
    ['a fragment', '/x#y', 'fragment_or_query'],
    ['a space', '/a b', 'control_character'],
    ['CRLF', '/a\r\nX-Injected: 1', 'control_character'],
    ['a servlet dot segment', '/..;/admin', 'dot_segment_parameter'],
    ['non-ASCII', '/café', 'not_ascii'],
    ['a non-string', 42, 'not_a_string'],
    ['undefined', undefined, 'not_a_string'],
  ])('refuses %s with a RewriteRefusedError saying why, not what', (_what, value, reason) => {
    const rewrite = compileRewrite(() => value as string, '/x', field);
    let error: unknown;
    try {
      rewrite({ path: '/x', params: {}, req });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RewriteRefusedError);
    expect((error as RewriteRefusedError).reason).toBe(reason);
    if (typeof value === 'string' && value.length > 3) {
      expect((error as Error).message).not.toContain(value);
    }
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
