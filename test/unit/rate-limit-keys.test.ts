import { describe, expect, it } from 'vitest';
import { ipKey, parseIPv6 } from '../../src/rate-limit/keys.js';

describe('ipKey', () => {
  it('keys IPv4 addresses by the address', () => {
    expect(ipKey('203.0.113.7', 56)).toBe('ip:203.0.113.7');
  });

  it('unifies IPv4-mapped IPv6 addresses with their IPv4 address', () => {
    expect(ipKey('::ffff:203.0.113.7', 56)).toBe('ip:203.0.113.7');
    expect(ipKey('::FFFF:cb00:7107', 56)).toBe('ip:203.0.113.7');
    expect(ipKey('0:0:0:0:0:ffff:203.0.113.7', 128)).toBe('ip:203.0.113.7');
  });

  it('groups IPv6 addresses by their /56 whatever the spelling', () => {
    const a = ipKey('2001:db8:1234:5600::1', 56);
    expect(a).toBe('ip:2001:db8:1234:5600/56');
    expect(ipKey('2001:0db8:1234:56ff:ffff:ffff:ffff:ffff', 56)).toBe(a);
    expect(ipKey('2001:DB8:1234:5601::', 56)).toBe(a);
    expect(ipKey('2001:db8:1234:5700::1', 56)).not.toBe(a);
    expect(ipKey('fe80::1%eth0', 64)).toBe('ip:fe80:0:0:0/64');
  });

  it('honours other prefix lengths and the whole address', () => {
    expect(ipKey('2001:db8::1', 128)).toBe('ip:2001:db8:0:0:0:0:0:1/128');
    expect(ipKey('2001:db8::2', 128)).not.toBe(ipKey('2001:db8::1', 128));
    expect(ipKey('2001:db8:ffff::', 36)).toBe('ip:2001:db8:f000/36');
  });

  it('never lets an id collide with an address, and copes with no address', () => {
    expect(ipKey(undefined, 56)).toBe('ip:unknown');
    expect(ipKey('', 56)).toBe('ip:unknown');
  });
});

describe('parseIPv6', () => {
  it('parses compressed, full and IPv4-tailed forms', () => {
    expect(parseIPv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('::1')).toEqual([0, 0, 0, 0, 0, 0, 0, 1]);
    expect(parseIPv6('1::')).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIPv6('64:ff9b::192.0.2.33')).toEqual([0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221]);
  });

  it('rejects malformed addresses', () => {
    for (const bad of [
      '1:2',
      ':1',
      '1:::2',
      '1::2::3',
      '12345::',
      '1:2:3:4:5:6:7:8:9',
      'g::',
      '1:',
    ]) {
      expect(parseIPv6(bad), bad).toBeNull();
    }
  });
});
