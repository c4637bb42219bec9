/**
 * Path normalisation (SPEC §5.1): the one place that decides what a request
 * path means. The result is both what routes, auth and limits are judged on
 * and what the upstream receives, so there is nothing for an upstream to
 * re-interpret differently.
 *
 * It runs on every request, so it is a single pass over `charCodeAt` with a
 * lookup table, no regular expression, and a fast path that returns the very
 * same string when there is nothing to do (the common case).
 */

/**
 * Why a path was refused. Only used to word the 400's `detail`.
 *
 * @example
 * const reason: PathRejection = 'encoded_separator';
 */
export type PathRejection =
  | 'not_origin_form'
  | 'invalid_escape'
  | 'encoded_separator'
  | 'backslash'
  | 'nul'
  | 'above_root'
  | 'control_character'
  | 'fragment_or_query'
  | 'not_latin1'
  | 'dot_segment_parameter'
  | 'overlong_utf8';

// Character classes of the table below.
const REFUSE = 0;
/** Kept as is: unreserved characters (bar '.'), sub-delims, ':' and '@' (RFC 3986 pchar). */
const PLAIN = 1;
const SLASH = 2;
const DOT = 3;
const PERCENT = 4;
/** Printable ASCII that is not allowed raw in a path (`"<>\`{}|^[]`): percent-encoded. */
const ENCODE = 5;

const CLASS = new Uint8Array(128);
/** 1 for the RFC 3986 unreserved characters, whose escapes are decoded. */
const UNRESERVED = new Uint8Array(128);
{
  const range = (from: string, to: string, table: Uint8Array, value: number): void => {
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c++) table[c] = value;
  };
  const each = (chars: string, table: Uint8Array, value: number): void => {
    for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = value;
  };
  range('A', 'Z', CLASS, PLAIN);
  range('a', 'z', CLASS, PLAIN);
  range('0', '9', CLASS, PLAIN);
  each("-_~!$&'()*+,;=:@", CLASS, PLAIN);
  each('"<>`{}|^[]', CLASS, ENCODE);
  CLASS[0x2f] = SLASH;
  CLASS[0x2e] = DOT;
  CLASS[0x25] = PERCENT;
  // Everything else stays REFUSE: C0 controls, space, DEL, '\', '#', '?'.
  range('A', 'Z', UNRESERVED, 1);
  range('a', 'z', UNRESERVED, 1);
  range('0', '9', UNRESERVED, 1);
  each('-._~', UNRESERVED, 1);
}

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 65 && c <= 70) return c - 55; // A-F
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/**
 * After the lead byte E0 (F0), a continuation escape below A0 (90) makes an
 * overlong 3-byte (4-byte) form, e.g. `%E0%80%AE` for `.`.
 */
function isOverlongContinuation(path: string, at: number, lead: number): boolean {
  if (path.charCodeAt(at) !== 37) return false;
  const high = hexValue(path.charCodeAt(at + 1));
  const low = hexValue(path.charCodeAt(at + 2));
  if (high < 0 || low < 0) return false;
  const next = (high << 4) | low;
  return next >= 0x80 && next < (lead === 0xe0 ? 0xa0 : 0x90);
}

function refusalOf(c: number): PathRejection {
  if (c === 0) return 'nul';
  if (c === 0x5c) return 'backslash';
  if (c === 0x23 || c === 0x3f) return 'fragment_or_query';
  return 'control_character';
}

/**
 * Normalises an origin-form request path (no query string) as SPEC §5.1
 * says, or returns `null` when the path must be refused with 400.
 *
 * What it does, in one pass:
 * - `%XX` escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are
 *   decoded; every other escape is kept with upper-case hex (`%c3%a9` →
 *   `%C3%A9`). Decoding happens once: `%252e` (an encoded `%` then `2e`) stays `%252e`.
 * - Runs of `/` are merged (`//a///b` → `/a/b`), then the dot segments `.` and
 *   `..` are resolved, also when spelled `%2e`/`%2E`; a trailing `/` is kept.
 * - Printable ASCII that RFC 3986 does not allow raw in a path
 *   (`"<>\`{}|^[]`) and raw bytes 0x80–0xFF (Node reads the request target as
 *   latin1, one character per byte) are percent-encoded as the byte, e.g. a
 *   raw UTF-8 `é` (bytes C3 A9) becomes `%C3%A9`.
 * - `;` is an ordinary character, forwarded as judged.
 *
 * Refused (`null`): not starting with `/`; `%` not followed by two hex digits;
 * `%2F`/`%5C` (any case); a raw `\`; NUL raw or `%00`; other raw control
 * characters, space and DEL; a raw `#` or `?`; characters above U+00FF (which
 * cannot come from an HTTP/1 request line); a `..` that would climb above the
 * root; a segment starting with `.;` or `..;` — servlet containers read
 * `..;x` as `..`, so it would be resolved differently upstream than here; and
 * overlong UTF-8 escapes — `%C0`/`%C1` (never valid in UTF-8) and `%E0`
 * `%F0` followed by a too-small continuation — which only serve to spell
 * characters such as `.` (`%C0%AE`, `%E0%80%AE`) past a filter, for lenient
 * decoders upstream to turn into `../`. Escapes that are not UTF-8 at all
 * (`%E9` from a latin1 client) are otherwise kept.
 * Encoded control characters other than NUL (`%0A`) are valid escapes and kept.
 *
 * The result is idempotent: `normalizePath(normalizePath(p)) === normalizePath(p)`.
 * When nothing needs to change, the input string itself is returned.
 *
 * @example
 * normalizePath('/a/./b/../%7euser//x%2ey'); // '/a/~user/x.y'
 * normalizePath('/a/%2e%2E/%2e%2e/etc');     // null (climbs above the root)
 * normalizePath('/files/a%2Fb');            // null (encoded slash)
 */
export function normalizePath(path: string): string | null {
  const result = normalizeOrReject(path);
  return result.charCodeAt(0) === 47 ? result : null;
}

/**
 * Why {@link normalizePath} refuses `path`, or `null` when it does not. Slow
 * and only meant for wording an error; the hot path never calls it.
 *
 * @example
 * describePathRejection('/a%2fb'); // 'encoded_separator'
 */
export function describePathRejection(path: string): PathRejection | null {
  const result = normalizeOrReject(path);
  return result.charCodeAt(0) === 47 ? null : (result as PathRejection);
}

/** The normalised path (starts with '/') or a rejection reason (never starts with '/'). */
function normalizeOrReject(path: string): string {
  const n = path.length;
  if (n === 0 || path.charCodeAt(0) !== 47) return 'not_origin_form';
  // Fast path: only plain characters, no '//', no segment starting with '.'.
  let previousSlash = true;
  for (let i = 1; i < n; i++) {
    const c = path.charCodeAt(i);
    const kind = c < 128 ? CLASS[c] : ENCODE;
    if (kind === PLAIN) {
      previousSlash = false;
    } else if (kind === SLASH) {
      if (previousSlash) return normalizeSlow(path);
      previousSlash = true;
    } else if (kind === DOT && !previousSlash) {
      // A '.' inside a name ('/file.json') cannot form a dot segment.
    } else {
      return normalizeSlow(path);
    }
  }
  return path;
}

function normalizeSlow(path: string): string {
  const n = path.length;
  /** The resolved path so far; ends with '/' except after the last segment. */
  let out = '/';
  /** The current segment, already normalised. */
  let segment = '';
  /** Start of the raw run not yet copied into `segment`. */
  let runStart = 1;
  for (let i = 1; i <= n; i++) {
    // The end of the input finishes the last segment like a '/' would.
    const c = i === n ? 47 : path.charCodeAt(i);
    if (c === 47) {
      if (runStart < i) segment += path.slice(runStart, i);
      runStart = i + 1;
      const length = segment.length;
      if (length === 0 || (length === 1 && segment === '.')) {
        // Empty (merged '//') or '.': nothing to add; `out` already ends with '/'.
      } else if (length === 2 && segment === '..') {
        if (out.length === 1) return 'above_root';
        out = out.slice(0, out.lastIndexOf('/', out.length - 2) + 1);
      } else {
        if (
          segment.charCodeAt(0) === 46 &&
          (segment.charCodeAt(1) === 59 ||
            (segment.charCodeAt(1) === 46 && segment.charCodeAt(2) === 59))
        ) {
          return 'dot_segment_parameter';
        }
        out += i === n ? segment : `${segment}/`;
      }
      segment = '';
      continue;
    }
    if (c > 0xff) return 'not_latin1';
    const kind = c < 128 ? CLASS[c] : ENCODE;
    if (kind === PLAIN || kind === DOT) continue;
    if (kind === REFUSE) return refusalOf(c);
    if (runStart < i) segment += path.slice(runStart, i);
    if (kind === ENCODE) {
      if (c === 0xc0 || c === 0xc1) return 'overlong_utf8';
      segment += `%${HEX.charAt(c >> 4)}${HEX.charAt(c & 15)}`;
      runStart = i + 1;
      continue;
    }
    // PERCENT
    if (i + 2 >= n) return 'invalid_escape';
    const high = hexValue(path.charCodeAt(i + 1));
    const low = hexValue(path.charCodeAt(i + 2));
    if (high < 0 || low < 0) return 'invalid_escape';
    const byte = (high << 4) | low;
    if (byte === 0) return 'nul';
    if (byte === 0x2f || byte === 0x5c) return 'encoded_separator';
    if (byte === 0xc0 || byte === 0xc1) return 'overlong_utf8';
    if ((byte === 0xe0 || byte === 0xf0) && isOverlongContinuation(path, i + 3, byte)) {
      return 'overlong_utf8';
    }
    if (byte < 128 && UNRESERVED[byte] === 1) segment += String.fromCharCode(byte);
    else segment += `%${HEX.charAt(high)}${HEX.charAt(low)}`;
    i += 2;
    runStart = i + 1;
  }
  return out;
}
