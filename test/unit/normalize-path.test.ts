import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describePathRejection, normalizePath } from '../../src/route/normalize-path.js';

describe('normalizePath', () => {
  it.each([
    // unchanged (fast path)
    ['/', '/'],
    ['/users/42', '/users/42'],
    ['/file.json', '/file.json'],
    ['/a..b/c.', '/a..b/c.'],
    ['/a;b=c/d', '/a;b=c/d'],
    ["/!$&'()*+,;=:@-_~", "/!$&'()*+,;=:@-_~"],
    ['/a/', '/a/'],
    // slashes merged
    ['//', '/'],
    ['//a///b//', '/a/b/'],
    // dot segments
    ['/.', '/'],
    ['/./', '/'],
    ['/a/.', '/a/'],
    ['/a/./b', '/a/b'],
    ['/a/..', '/'],
    ['/a/../', '/'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/../../c', '/c'],
    ['/a//../b', '/b'],
    ['/a/%2e/b', '/a/b'],
    ['/a/%2e%2E/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/a/%2E./b', '/b'],
    ['/.well-known/x', '/.well-known/x'],
    ['/...', '/...'],
    ['/a/.../b', '/a/.../b'],
    // escapes: unreserved decoded, others upper-cased, decoded once only
    ['/%7euser', '/~user'],
    ['/%41%62%2D%5f%30', '/Ab-_0'],
    ['/a%20b', '/a%20b'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/%252e%252e', '/%252e%252e'],
    ['/%25', '/%25'],
    ['/%3b%3F%23', '/%3B%3F%23'],
    ['/%0a', '/%0A'],
    ['/%e0%a0%80', '/%E0%A0%80'],
    ['/%f0%90%80%80', '/%F0%90%80%80'],
    ['/%E9t%E9', '/%E9t%E9'],
    ['/%e0', '/%E0'],
    ['/%e0x', '/%E0x'],
    // raw characters percent-encoded
    ['/a"b<c>', '/a%22b%3Cc%3E'],
    ['/{x}|^`[]', '/%7Bx%7D%7C%5E%60%5B%5D'],
    ['/caf\u00c3\u00a9', '/caf%C3%A9'],
    ['/\u00ff', '/%FF'],
  ])('%j → %j', (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  it('returns the very same string when nothing changes', () => {
    const path = '/api/users/42/profile.json';
    expect(normalizePath(path)).toBe(path);
  });

  it.each([
    ['', 'not_origin_form'],
    ['users', 'not_origin_form'],
    ['http://evil/x', 'not_origin_form'],
    ['*', 'not_origin_form'],
    ['/..', 'above_root'],
    ['/../a', 'above_root'],
    ['/a/../..', 'above_root'],
    ['/a/../../b', 'above_root'],
    ['/%2e%2e/etc/passwd', 'above_root'],
    ['/a/%2E%2E/%2e%2e/b', 'above_root'],
    ['/a%2fb', 'encoded_separator'],
    ['/a%2Fb', 'encoded_separator'],
    ['/a%5cb', 'encoded_separator'],
    ['/a%5C..%5Cb', 'encoded_separator'],
    ['/a\\b', 'backslash'],
    ['/..\\x', 'backslash'],
    ['/a%00', 'nul'],
    ['/a\u0000b', 'nul'],
    ['/%zz', 'invalid_escape'],
    ['/%4', 'invalid_escape'],
    ['/%', 'invalid_escape'],
    ['/a%g0', 'invalid_escape'],
    ['/%%30', 'invalid_escape'],
    ['/a b', 'control_character'],
    ['/a\tb', 'control_character'],
    ['/a\r\nX: y', 'control_character'],
    ['/a\u007f', 'control_character'],
    ['/a#b', 'fragment_or_query'],
    ['/a?b', 'fragment_or_query'],
    ['/caf\u00e9\u0100', 'not_latin1'],
    ['/\u{1f600}', 'not_latin1'],
    ['/..;/admin', 'dot_segment_parameter'],
    ['/a/.;x/b', 'dot_segment_parameter'],
    ['/a/%2e%2e;/b', 'dot_segment_parameter'],
    ['/%c0%ae%c0%ae/etc', 'overlong_utf8'],
    ['/%C1%9C', 'overlong_utf8'],
    ['/\u00c0\u00ae', 'overlong_utf8'],
    ['/%e0%80%ae', 'overlong_utf8'],
    ['/%E0%9F%BF', 'overlong_utf8'],
    ['/%f0%80%80%ae', 'overlong_utf8'],
    ['/%F0%8F%BF%BF', 'overlong_utf8'],
  ])('refuses %j (%s)', (input, reason) => {
    expect(normalizePath(input)).toBeNull();
    expect(describePathRejection(input)).toBe(reason);
  });

  it('does not refuse what it accepts', () => {
    expect(describePathRejection('/a/./b')).toBeNull();
  });

  it('handles very long paths in linear time', () => {
    const segments = 4_000;
    const plain = `/${'abcd/'.repeat(segments)}`;
    expect(normalizePath(plain)).toBe(plain);
    const messy = `/${'a/./b//%7e/../'.repeat(segments)}x`;
    expect(normalizePath(messy)).toBe(`/${'a/b/'.repeat(segments)}x`);
    const climbing = `/${'a/'.repeat(segments)}${'../'.repeat(segments)}z`;
    const started = process.cpuUsage();
    expect(normalizePath(climbing)).toBe('/z');
    expect(normalizePath(`${climbing.slice(0, -1)}../z`)).toBeNull();
    // Generous bound in CPU time: a quadratic implementation takes seconds here.
    const used = process.cpuUsage(started);
    expect((used.user + used.system) / 1000).toBeLessThan(500);
  });
});

/** Path-ish strings made of the characters that matter to normalisation. */
const pathPiece = fc.constantFrom(
  '/',
  '//',
  '.',
  '..',
  '/./',
  '/../',
  '%2e',
  '%2E',
  '%2f',
  '%5C',
  '%00',
  '%7e',
  '%7E',
  '%41',
  '%c3',
  '%A9',
  '%25',
  '%20',
  '%',
  '%z',
  '%4',
  ';',
  '\\',
  '\u0000',
  ' ',
  '#',
  '\u00e9',
  '"',
  'a',
  'B',
  '~',
  '-',
);
const arbitraryPath = fc
  .array(fc.oneof(pathPiece, fc.string({ maxLength: 4 })), { maxLength: 24 })
  .map((pieces) => `/${pieces.join('')}`);

describe('normalizePath properties', () => {
  it('is idempotent and its output is in normal form', () => {
    fc.assert(
      fc.property(arbitraryPath, (input) => {
        const out = normalizePath(input);
        if (out === null) return;
        expect(normalizePath(out)).toBe(out);
        expect(out.startsWith('/')).toBe(true);
        expect(out).not.toContain('//');
        expect(out).not.toMatch(/\/\.\.?(\/|$)/);
        // no escape of an unreserved character, no lower-case hex, no NUL/'/'/'\' escapes
        expect(out).not.toMatch(/%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DdEe]|5[Ff]|7[Ee])/);
        expect(out).not.toMatch(/%[0-9A-Fa-f]?[a-f]/);
        expect(out).not.toMatch(/%(?:00|2F|5C)/i);
        // every '%' starts a valid escape; only printable ASCII remains
        expect(out).toMatch(/^(?:[!-$&-~]|%[0-9A-F]{2})*$/);
        expect(out).not.toMatch(/[\\#?]/);
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses exactly the inputs containing a forbidden construct', () => {
    fc.assert(
      fc.property(arbitraryPath, (input) => {
        const forbidden =
          /%(?![0-9A-Fa-f]{2})|%(?:00|2[Ff]|5[Cc])|[\\#?]/.test(input) ||
          [...input].some((ch) => {
            const c = ch.codePointAt(0) ?? 0;
            return c <= 0x20 || c === 0x7f || c > 0xff;
          });
        if (forbidden) expect(normalizePath(input)).toBeNull();
      }),
      { numRuns: 2_000 },
    );
  });

  it('agrees with a naive split-and-stack reference on plain segments and dots', () => {
    /** RFC 3986 §5.2.4 on '/'-split segments, after merging slashes: obviously right, slow. */
    const reference = (path: string): string | null => {
      const parts = path.split('/').slice(1);
      const stack: string[] = [];
      for (const part of parts) {
        if (part === '' || part === '.') continue;
        if (part !== '..') stack.push(part);
        else if (stack.pop() === undefined) return null;
      }
      const trailing = ['', '.', '..'].includes(parts[parts.length - 1] ?? '');
      return `/${stack.join('/')}${trailing && stack.length > 0 ? '/' : ''}`;
    };
    const part = fc.constantFrom('', '.', '..', 'a', 'bc', '.x', 'x.', '...');
    fc.assert(
      fc.property(fc.array(part, { maxLength: 12 }), (parts) => {
        const path = `/${parts.join('/')}`;
        expect(normalizePath(path)).toBe(reference(path));
      }),
      { numRuns: 3_000 },
    );
  });

  it('keeps what is already normal unchanged', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_~!$&'()*+,;=:@-]{1,8}$/);
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        (segs, slash) => {
          const path = `/${segs.join('/')}${slash ? '/' : ''}`;
          expect(normalizePath(path)).toBe(path);
        },
      ),
      { numRuns: 500 },
    );
  });
});
