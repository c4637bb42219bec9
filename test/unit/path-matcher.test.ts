import { parse } from 'path-to-regexp';
import { describe, expect, it } from 'vitest';
import { checkRoutePattern, compilePathMatcher } from '../../src/route/path-matcher.js';
import { checkPatternComplexity, PATTERN_LIMITS } from '../../src/route/pattern-safety.js';
import { configErrorOf } from '../helpers/config-error.js';

const sensitive = { caseSensitive: true };

/** CPU milliseconds spent in `fn`: unlike wall time, not inflated by a busy machine. */
function cpuMs(fn: () => void): number {
  const started = process.cpuUsage();
  fn();
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1000;
}
const field = 'routes[0].path';

describe('compilePathMatcher', () => {
  it.each<[string, string, Record<string, unknown> | null]>([
    ['/users/:id', '/users/42', { id: '42' }],
    ['/users/:id', '/users/42/', { id: '42' }],
    ['/users/:id', '/users/42/x', null],
    ['/users/:id', '/users', null],
    ['/users/:id', '/users/', null],
    ['/users/:id', '/Users/42', null],
    ['/', '/', {}],
    ['/', '/x', null],
    ['/health', '/health', {}],
    ['/health', '/healthz', null],
    ['/files/*path', '/files/a/b/c', { path: ['a', 'b', 'c'] }],
    ['/files/*path', '/files/a/', { path: ['a', ''] }],
    ['/files/*path', '/files', null],
    ['/public{/*path}', '/public', {}],
    ['/public{/*path}', '/public/', {}],
    ['/public{/*path}', '/public/a/b', { path: ['a', 'b'] }],
    ['/public{/*path}', '/publicity', null],
    // path-to-regexp 9: a param stops at the first occurrence of the text that follows it
    ['/:file.:ext', '/report.tar.gz', { file: 'report', ext: 'tar.gz' }],
    // params keep the normalised path's escapes: not decoded, never decoded into '/'
    ['/files/:name', '/files/a%20b', { name: 'a%20b' }],
    ['/files/:name', '/files/caf%C3%A9', { name: 'caf%C3%A9' }],
    ['/files/:name', '/files/%E9', { name: '%E9' }],
    ['/files/*path', '/files/a%3Bb/c;d', { path: ['a%3Bb', 'c;d'] }],
    ['/caf%C3%A9/:x', '/caf%C3%A9/1', { x: '1' }],
  ])('%s on %s', (pattern, path, params) => {
    const match = compilePathMatcher(pattern, sensitive, field);
    const result = match(path);
    if (params === null) expect(result).toBeNull();
    else expect(result).toEqual({ params });
  });

  it('is case-insensitive when asked', () => {
    const match = compilePathMatcher('/Users/:id', { caseSensitive: false }, field);
    expect(match('/uSERS/Ab')).toEqual({ params: { id: 'Ab' } });
    expect(compilePathMatcher('/Users/:id', sensitive, field)('/users/1')).toBeNull();
  });

  it('covers every ASCII case variant an Express router treats as equal, params in the path’s case', () => {
    const match = compilePathMatcher('/admin{/*rest}', { caseSensitive: false }, field);
    // '/%41dmin' arrives here already normalised to '/Admin'.
    for (const path of ['/admin', '/ADMIN', '/Admin/Users', '/aDmIn/x/Y/']) {
      expect(match(path), path).not.toBeNull();
    }
    expect(match('/ADMIN/Users/Q')).toEqual({ params: { rest: ['Users', 'Q'] } });
    expect(match('/administrator')).toBeNull();
    // Escapes are matched as text: normalised paths always carry upper-case hex.
    expect(compilePathMatcher('/caf%C3%A9', { caseSensitive: false }, field)('/CAF%C3%A9')).toEqual(
      {
        params: {},
      },
    );
  });

  it('gives params without a prototype, so __proto__ is an ordinary name', () => {
    const match = compilePathMatcher('/x/:__proto__', sensitive, field);
    const result = match('/x/polluted');
    expect(Object.entries(result?.params ?? {})).toEqual([['__proto__', 'polluted']]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['', 'ERR_CONFIG_INVALID_PATH'],
    ['users/:id', 'ERR_CONFIG_INVALID_PATH'],
    ['/users/:', 'ERR_CONFIG_INVALID_PATH'],
    ['/users/(\\d+)', 'ERR_CONFIG_INVALID_PATH'],
    ['/users/:id?', 'ERR_CONFIG_INVALID_PATH'],
    ['/:a:b', 'ERR_CONFIG_INVALID_PATH'],
    ['/{unclosed', 'ERR_CONFIG_INVALID_PATH'],
    // literal text a normalised path can never contain
    ['/a//b', 'ERR_CONFIG_INVALID_PATH'],
    ['/a/../b', 'ERR_CONFIG_INVALID_PATH'],
    ['/./x', 'ERR_CONFIG_INVALID_PATH'],
    ['/%7euser', 'ERR_CONFIG_INVALID_PATH'],
    ['/a%2Fb', 'ERR_CONFIG_INVALID_PATH'],
    ['/a b', 'ERR_CONFIG_INVALID_PATH'],
    ['/café', 'ERR_CONFIG_INVALID_PATH'],
    ['/x%c3%a9', 'ERR_CONFIG_INVALID_PATH'],
    // complexity limits
    [`/${'a'.repeat(PATTERN_LIMITS.maxLength)}`, 'ERR_CONFIG_UNSAFE_PATTERN'],
    [`/${Array.from({ length: 33 }, (_, i) => `:p${i}`).join('/')}`, 'ERR_CONFIG_UNSAFE_PATTERN'],
    ['{/:a}{/:b}{/:c}{/:d}{/:e}{/:f}{/:g}', 'ERR_CONFIG_UNSAFE_PATTERN'],
    ['/x{-:a{-:b{-:c{-:d{-:e{-:f{-:g{-:h}}}}}}}}{/y}{/z}{/w}{/v}', 'ERR_CONFIG_UNSAFE_PATTERN'],
  ])('refuses %j with %s', (pattern, code) => {
    const err = configErrorOf(() => compilePathMatcher(pattern, sensitive, field));
    expect(err.code).toBe(code);
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });

  it('suggests the UTF-8 spelling of a non-ASCII pattern', () => {
    const err = configErrorOf(() => compilePathMatcher('/café', sensitive, field));
    expect(err.message).toContain('/caf%C3%A9');
  });

  it('accepts realistic patterns at the limits', () => {
    expect(() =>
      compilePathMatcher('{/:a}{/:b}{/:c}{/:d}{/:e}{/:f}', sensitive, field),
    ).not.toThrow();
    expect(() =>
      compilePathMatcher(
        `/${Array.from({ length: 32 }, (_, i) => `:p${i}`).join('/')}`,
        sensitive,
        field,
      ),
    ).not.toThrow();
  });

  it.each([
    '/*a/x/*b/y',
    '/*a/*b/*c/*d/z',
    '/:a-:b-:c-:d-:e',
    '/:a.:b.:c.:d/*x/y',
    '{/*a}{/*b}{/*c}{/*d}/z',
    '/:a{-:b}{-:c}{-:d}{-:e}z',
  ])('matches hostile 16 KB paths against %s quickly (no ReDoS)', (pattern) => {
    const match = compilePathMatcher(pattern, sensitive, field);
    const n = 16_000;
    const inputs = [
      `/${'x/'.repeat(n / 2)}`,
      `/${'-'.repeat(n)}!`,
      `/${'a-'.repeat(n / 2)}/`,
      `/${'a.'.repeat(n / 2)}/`,
      `/${'x/a/'.repeat(n / 4)}!`,
      `/${'a/'.repeat(n / 2)}/`,
    ];
    for (const input of inputs) {
      // A backtracking expression takes seconds here; a linear one well under a millisecond.
      expect(cpuMs(() => match(input))).toBeLessThan(100);
    }
  });
});

describe('pattern safety is decided by structure alone', () => {
  it.each<[string, string | null]>([
    ['/users/:id{/*rest}', null],
    ['{/:a}{/:b}{/:c}{/:d}{/:e}{/:f}', null],
    ['{/:a}{/:b}{/:c}{/:d}{/:e}{/:f}{/:g}', 'expand into 128 alternatives'],
    [`/${'a'.repeat(PATTERN_LIMITS.maxLength)}`, 'characters long'],
    [`/${Array.from({ length: 33 }, (_, i) => `:p${i}`).join('/')}`, 'has 33 params'],
    // 64 alternatives, each with the 26 params outside the groups: 26 × 64 + 6 × 32 capture groups.
    [
      `/${Array.from({ length: 26 }, (_, i) => `:p${i}`).join('/')}{/:a}{/:b}{/:c}{/:d}{/:e}{/:f}`,
      'compiles to 1856 capture groups',
    ],
    [`/:p0{/:a}{/:b}{/:c}{/:d}{/:e}{/:f}`, null],
  ])('%s → %s', (pattern, problem) => {
    const decision = checkPatternComplexity(parse(pattern), pattern);
    if (problem === null) expect(decision).toBeNull();
    else expect(decision).toContain(problem);
  });

  it('gives the same decision on every run, whatever the machine is doing', () => {
    const patterns = [
      '/*a/x/*b/y',
      '{/:a}{/:b}{/:c}{/:d}{/:e}{/:f}{/:g}',
      '/:a{-:b}{-:c}{-:d}{-:e}z',
      `/${'a'.repeat(PATTERN_LIMITS.maxLength)}`,
    ];
    const first = patterns.map((p) => JSON.stringify(checkRoutePattern(p)));
    // Busy the CPU between runs: a time-based probe could change its mind; structure cannot.
    for (let run = 0; run < 20; run++) {
      let spin = 0;
      for (let i = 0; i < 200_000; i++) spin += Math.sqrt(i);
      expect(spin).toBeGreaterThan(0);
      expect(patterns.map((p) => JSON.stringify(checkRoutePattern(p)))).toEqual(first);
    }
  });
});

describe('Express 4 syntax is recognised and the path-to-regexp 8 form suggested', () => {
  it.each([
    ['/public/*', "'/public/*path'", "'/public{/*path}'"],
    ['/users/:id?', "'/users{/:id}'", undefined],
    ['/api/(.*)', "'/api/*path'", undefined],
    ['(.*)', "'/*path'", undefined],
    ['/files/:path*', "'/files{/*path}'", undefined],
  ])('%s → %s', (pattern, suggestion, alternative) => {
    const err = configErrorOf(() => compilePathMatcher(pattern, sensitive, field));
    expect(err.code).toBe('ERR_CONFIG_INVALID_PATH');
    expect(err.message).toContain('Express 4');
    expect(err.message).toContain(suggestion);
    if (alternative) expect(err.message).toContain(alternative);
  });
});
