import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeHeaderValue, encodeScopes } from '../../src/auth/consumer-headers.js';
import { AMBIGUOUS, findQueryParam, removeQueryParam } from '../../src/auth/credential-query.js';
import { hashPassword, parsePasswordHash, verifyPassword } from '../../src/auth/password-hash.js';

const VALID_HEADER_VALUE = /^[\x21-\x7e]*$/;

describe('encodeHeaderValue', () => {
  it('leaves visible ASCII alone and encodes the rest reversibly', () => {
    expect(encodeHeaderValue('alice@example.com')).toBe('alice@example.com');
    expect(encodeHeaderValue('a\r\nb')).toBe('a%0D%0Ab');
    expect(encodeHeaderValue('100%')).toBe('100%25');
    expect(encodeHeaderValue('é')).toBe('%C3%A9');
    expect(encodeHeaderValue('\ud800')).toBe('%EF%BF%BD');
    expect(encodeScopes(['a b', 'c'])).toBe('a%20b c');
  });

  it('always yields a legal header value that decodes back (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const encoded = encodeHeaderValue(s);
        expect(encoded).toMatch(VALID_HEADER_VALUE);
        expect(decodeURIComponent(encoded)).toBe(s);
      }),
    );
  });
});

describe('query credentials', () => {
  it('finds, decodes and removes a parameter', () => {
    expect(findQueryParam('/p', 'k')).toBeUndefined();
    expect(findQueryParam('/p?a=1&k=x%2By+z&b', 'k')).toBe('x+y z');
    expect(findQueryParam('/p?k', 'k')).toBe('');
    expect(findQueryParam('/p?k=1&k=2', 'k')).toBe(AMBIGUOUS);
    expect(findQueryParam('/p?k=%E0%A4%A', 'k')).toBe(AMBIGUOUS);
    expect(findQueryParam('/p?%6B=v', 'k')).toBe('v');
    expect(removeQueryParam('/p?a=1&k=x&b=2', 'k')).toBe('/p?a=1&b=2');
    expect(removeQueryParam('/p?k=x', 'k')).toBe('/p');
    expect(removeQueryParam('/p?%6B=x&kk=1', 'k')).toBe('/p?kk=1');
    expect(removeQueryParam('/p?a=1&&b', 'k')).toBe('/p?a=1&&b');
  });
});

describe('password hashes', () => {
  it('uses the documented format and verifies', async () => {
    const hash = hashPassword('pw');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(hashPassword('pw')).not.toBe(hash); // random salt
    const parsed = parsePasswordHash(hash)!;
    expect(await verifyPassword('pw', parsed)).toBe(true);
    expect(await verifyPassword('pW', parsed)).toBe(false);
  });

  it('rejects malformed hashes and absurd cost parameters', () => {
    const [, , r, p, salt, h] = hashPassword('pw').split('$');
    for (const bad of [
      'plain',
      `bcrypt$16384$${r}$${p}$${salt}$${h}`,
      `scrypt$1000$${r}$${p}$${salt}$${h}`,
      `scrypt$${2 ** 24}$${r}$${p}$${salt}$${h}`,
      `scrypt$16384$${r}$${p}$${salt}$not+base64url`,
    ]) {
      expect(parsePasswordHash(bad)).toBeUndefined();
    }
  });
});
