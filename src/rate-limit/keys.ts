/**
 * Client keys. Every key is namespaced by its kind so a principal id can
 * never collide with an address, nor one kind of principal with another:
 * `ip:203.0.113.7`, `ip:2001:db8:0:ab00/56`, `apiKey:alice`, `jwt:alice`,
 * `basic:alice`, `custom:alice`, `fn:<your value>`.
 */

/** The client address as the host app trusts it (see src/client-address.ts). */
export { clientAddress } from '../client-address.js';

/**
 * The `ip:` key for an address. IPv4 addresses (and IPv4-mapped IPv6 ones such
 * as `::ffff:203.0.113.7`) are keyed by the address; IPv6 addresses by their
 * first `prefixLength` bits (`128` = the whole address), written as
 * hexadecimal groups and the prefix length, e.g. `ip:2001:db8:0:ab00/56`.
 *
 * @example
 * ipKey('2001:db8:1234:56ff::1', 56); // 'ip:2001:db8:1234:5600/56'
 */
export function ipKey(address: string | undefined, prefixLength: number): string {
  if (address === undefined || address.length === 0) return 'ip:unknown';
  if (address.indexOf(':') === -1) return `ip:${address}`;
  const groups = parseIPv6(address);
  if (groups === null) return `ip:${address}`;
  if (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    const hi = groups[6] as number;
    const lo = groups[7] as number;
    return `ip:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  let out = 'ip:';
  const whole = prefixLength >> 4;
  const rest = prefixLength & 15;
  const count = rest === 0 ? whole : whole + 1;
  for (let i = 0; i < count; i++) {
    let group = groups[i] as number;
    if (i === whole) group &= (0xffff << (16 - rest)) & 0xffff;
    out += i === 0 ? group.toString(16) : `:${group.toString(16)}`;
  }
  return `${out}/${prefixLength}`;
}

/**
 * Parses an IPv6 address (with `::`, an embedded IPv4 tail, an optional `%zone`) into 8 groups; null when malformed.
 *
 * @example
 * parseIPv6('::ffff:192.0.2.1'); // [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]
 */
export function parseIPv6(input: string): number[] | null {
  let text = input;
  const zone = text.indexOf('%');
  if (zone !== -1) text = text.slice(0, zone);
  if (text.charCodeAt(0) === 0x5b && text.charCodeAt(text.length - 1) === 0x5d) {
    text = text.slice(1, -1);
  }
  const head: number[] = [];
  const tail: number[] = [];
  let target = head;
  let compressed = false;
  const n = text.length;
  let i = 0;
  if (n === 0) return null;
  if (text.charCodeAt(0) === 0x3a) {
    if (text.charCodeAt(1) !== 0x3a) return null;
    compressed = true;
    target = tail;
    i = 2;
  }
  while (i < n) {
    let value = 0;
    let digits = 0;
    const start = i;
    while (i < n) {
      const c = text.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      value = value * 16 + d;
      digits++;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 0x2e) {
      // An IPv4 tail: the last 32 bits.
      const v4 = parseIPv4(text.slice(start));
      if (v4 === null) return null;
      target.push(v4[0], v4[1]);
      i = n;
      break;
    }
    if (digits === 0 || digits > 4) return null;
    target.push(value);
    if (i === n) break;
    if (text.charCodeAt(i) !== 0x3a) return null;
    i++;
    if (i < n && text.charCodeAt(i) === 0x3a) {
      if (compressed) return null;
      compressed = true;
      target = tail;
      i++;
    } else if (i === n) {
      return null;
    }
  }
  const total = head.length + tail.length;
  if (compressed ? total > 7 : total !== 8) return null;
  const groups = head;
  for (let k = total; k < 8; k++) groups.push(0);
  for (let k = 0; k < tail.length; k++) groups[8 - tail.length + k] = tail[k] as number;
  return groups;
}

function parseIPv4(text: string): [number, number] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes: number[] = [];
  for (const part of parts) {
    if (part.length === 0 || part.length > 3) return null;
    const value = Number(part);
    if (!Number.isInteger(value) || value > 255) return null;
    bytes.push(value);
  }
  return [
    ((bytes[0] as number) << 8) | (bytes[1] as number),
    ((bytes[2] as number) << 8) | (bytes[3] as number),
  ];
}
