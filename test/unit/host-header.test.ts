import { describe, expect, it } from 'vitest';
import { hostLineCount, isValidHost } from '../../src/route/host-header.js';

const label63 = 'a'.repeat(63);
/** 4 × 63 + 3 dots = 255 characters: over DNS's 253. */
const name255 = [label63, label63, label63, label63].join('.');
/** 253 characters exactly. */
const name253 = `${[label63, label63, label63].join('.')}.${'b'.repeat(61)}`;

describe('isValidHost', () => {
  it.each([
    'api.example.com',
    'API.Example.COM',
    'api.example.com:8443',
    'api.example.com.',
    'api.example.com.:80',
    'localhost',
    'svc_name-1',
    '127.0.0.1',
    '127.0.0.1:3000',
    'x:0',
    'x:65535',
    'x:00080',
    '[::1]',
    '[::1]:8080',
    '[2001:DB8::1]:443',
    '[::ffff:127.0.0.1]',
    label63,
    name253,
    `${name253}.`,
  ])('accepts %j', (value) => {
    expect(isValidHost(value)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['userinfo', 'a@b'],
    ['userinfo before the protected host', 'x@admin.example.com'],
    ['two ports', 'x:80:80'],
    ['a port and more', 'admin.example.com:443:1'],
    ['a slash', 'admin.example.com/'],
    ['a path', 'x/y'],
    ['a backslash', 'admin.example.com\\'],
    ['a space', 'a b'],
    ['a tab', 'a\tb'],
    ['a percent-escape', 'a%2eb'],
    ['non-ASCII', 'caf\u00e9.example'],
    ['a comma (two hosts)', 'a.example.com,b.example.com'],
    ['a semicolon', 'a;b'],
    ['a query', 'a?b'],
    ['a fragment', 'a#b'],
    ['an empty port', 'x:'],
    ['a port alone', ':80'],
    ['a port too large', 'x:65536'],
    ['a port too long', 'x:000080'],
    ['a signed port', 'x:+80'],
    ['a non-numeric port', 'x:http'],
    ['a leading dot', '.example.com'],
    ['an empty label', 'a..b'],
    ['two trailing dots', 'a..'],
    ['a dot alone', '.'],
    ['a label over 63', `${label63}a.example.com`],
    ['a name over 253', name255],
    ['an unbracketed IPv6', '::1'],
    ['an unclosed bracket', '[::1'],
    ['text after the bracket', '[::1]x'],
    ['an empty literal', '[]'],
    ['a zone id', '[fe80::1%25eth0]'],
    ['IPvFuture', '[v1.x]'],
    ['not IPv6', '[1:2]'],
    ['an IPv6 with text', '[::1]@evil'],
  ])('refuses %s (%j)', (_what, value) => {
    expect(isValidHost(value)).toBe(false);
  });
});

describe('hostLineCount', () => {
  it('counts Host lines in any case', () => {
    expect(hostLineCount([])).toBe(0);
    expect(hostLineCount(['Host', 'a', 'Accept', '*/*'])).toBe(1);
    expect(hostLineCount(['host', 'a', 'HOST', 'b', 'hOsT', 'c'])).toBe(3);
    expect(hostLineCount(['X-Host', 'a', 'Hosts', 'b', 'host', 'c'])).toBe(1);
  });

  it('only looks at names, never at values', () => {
    expect(hostLineCount(['X-A', 'Host', 'Host', 'x'])).toBe(1);
  });
});
