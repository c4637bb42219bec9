import { isIPv6 } from 'node:net';

/**
 * The `Host` header is judged once, at admission (SPEC §8): a host that one
 * parser reads one way and another parser another way (`a@b`, `x:80:80`,
 * `admin.example.com/`) would let a request miss a host-scoped protected
 * route here and be read as that very host upstream. So only one plain form
 * is accepted, and every later stage (host matching, `X-Forwarded-Host`,
 * `preserveHost`) sees nothing else.
 *
 * Hand-written scanners over `charCodeAt`: no regular expression runs per
 * request (`isIPv6` only for the rare bracketed literal).
 */

/** The longest host name DNS can carry, without its optional trailing dot (RFC 1035 §2.3.4). */
const MAX_NAME_LENGTH = 253;
/** The longest DNS label. */
const MAX_LABEL_LENGTH = 63;

/** `A-Z a-z 0-9 - _`: the characters of a host name label (`_` for service names such as Docker's). */
function isLabelChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95
  );
}

function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/**
 * Whether `value` is a `Host` header the gateway accepts (RFC 9110 §7.2 with
 * RFC 3986 §3.2.2's host, narrowed to what names a host):
 * - a host name: dot-separated labels of letters, digits, `-` and `_`
 *   (labels of at most 63 characters, at most 253 in all), with at most one
 *   trailing dot; an IPv4 address is such a name;
 * - or an IPv6 literal in brackets (`[::1]`), without a zone id;
 * - then optionally `:` and a port of 1 to 5 digits, at most 65535.
 *
 * Refused: empty, userinfo (`a@b`), a second colon (`x:80:80`), `/`, `\`,
 * `%`-escapes, spaces, non-ASCII, empty labels (`a..b`, `.a`), `x:`
 * (an empty port), `[v1.x]` (IPvFuture), reg-name sub-delimiters (`a,b`, `a;b`).
 *
 * @example
 * isValidHost('api.example.com:8443'); // true
 * isValidHost('[::1]:8080');           // true
 * isValidHost('admin.example.com:443:1'); // false
 * isValidHost('x@admin.example.com');     // false
 */
export function isValidHost(value: string): boolean {
  const n = value.length;
  if (n === 0) return false;
  let end: number;
  if (value.charCodeAt(0) === 91) {
    // '[' IPv6 ']': only hex digits, ':' and '.' (an embedded IPv4) inside, then Node's own check.
    const close = value.indexOf(']');
    if (close < 3) return false;
    for (let i = 1; i < close; i++) {
      const c = value.charCodeAt(i);
      if (!isHexDigit(c) && c !== 58 && c !== 46) return false;
    }
    if (!isIPv6(value.slice(1, close))) return false;
    end = close + 1;
  } else {
    let label = 0;
    let i = 0;
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c === 58) break;
      if (c === 46) {
        if (label === 0) return false; // '.a', 'a..b'
        label = 0;
      } else if (isLabelChar(c)) {
        if (++label > MAX_LABEL_LENGTH) return false;
      } else {
        return false;
      }
    }
    end = i;
    if (end === 0) return false; // ':80'
    const nameLength = value.charCodeAt(end - 1) === 46 ? end - 1 : end;
    if (nameLength > MAX_NAME_LENGTH) return false;
  }
  if (end === n) return true;
  if (value.charCodeAt(end) !== 58) return false; // '[::1]x'
  const digits = n - end - 1;
  if (digits < 1 || digits > 5) return false;
  let port = 0;
  for (let i = end + 1; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    port = port * 10 + (c - 48);
  }
  return port <= 65535;
}

/**
 * How many `Host` lines the request carried. Node keeps only the first of
 * several in `req.headers.host`, while another parser may keep the last: two
 * lines are refused rather than guessed between.
 *
 * @example
 * hostLineCount(['Host', 'a', 'host', 'b']); // 2
 */
export function hostLineCount(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host')) count++;
  }
  return count;
}
