import { GatewayConfigError } from '../errors.js';

/**
 * Whether a request's `Host` header (port included) is one a route serves.
 * It is only ever called with a `Host` that admission validated
 * (`isValidHost`: one line, a plain host name or IP literal and an all-digit
 * port), so stripping the port at the last `:` is the only reading there is.
 * `undefined` (no `Host`, HTTP/1.0) never matches.
 *
 * @example
 * const matches: HostMatcher = compileHostMatcher('api.example.com', 'host');
 * matches('API.example.com:443'); // true
 */
export type HostMatcher = (hostHeader: string | undefined) => boolean;

/**
 * Compiles a route's `host` once. Two forms:
 * - exact: `'api.example.com'`, an IPv4 address, or an IPv6 literal
 *   (`'[::1]'`; `'::1'` is accepted too);
 * - wildcard: `'*.example.com'` matches one or more labels in front of
 *   `example.com` (`a.example.com`, `a.b.example.com`), like nginx's
 *   `server_name *.example.com` — but not the apex `example.com`; list
 *   that as its own route.
 *
 * Matching is ASCII case-insensitive; the port of the `Host` header is
 * ignored (`API.example.com:8443` matches `api.example.com`), as is one
 * trailing dot on either side (`example.com.`). A missing or empty `Host`
 * never matches; for a wildcard, the labels in front must be ordinary DNS
 * labels (letters, digits, `-`, `_`), so `evil/.example.com` does not match.
 * The configured host must not carry a port or a path.
 *
 * @example
 * const isApi = compileHostMatcher('*.example.com', 'routes[0].host');
 * isApi('v1.Example.COM:8080'); // true
 * isApi('example.com');         // false
 */
export function compileHostMatcher(host: string, field: string): HostMatcher {
  const configured = parseConfiguredHost(host);
  if (typeof configured === 'string') throw new GatewayConfigError(field, configured);
  if (configured.wildcard) {
    const suffix = `.${configured.name}`;
    return function matchHostWildcard(hostHeader) {
      if (hostHeader === undefined) return false;
      const name = hostName(hostHeader);
      if (name.length <= suffix.length || !name.endsWith(suffix)) return false;
      return isLabelSequence(name, name.length - suffix.length);
    };
  }
  const expected = configured.name;
  return function matchHostExact(hostHeader) {
    return hostHeader !== undefined && hostName(hostHeader) === expected;
  };
}

/** The lower-cased host name of a `Host` header: port and one trailing dot removed. */
function hostName(hostHeader: string): string {
  let end = hostHeader.length;
  if (hostHeader.charCodeAt(0) === 91) {
    // '[v6]:port': the address ends at ']'.
    const close = hostHeader.indexOf(']');
    if (close === -1) return '';
    end = close + 1;
  } else {
    const colon = hostHeader.lastIndexOf(':');
    if (colon !== -1) end = colon;
    if (end > 0 && hostHeader.charCodeAt(end - 1) === 46) end--;
  }
  const name = end === hostHeader.length ? hostHeader : hostHeader.slice(0, end);
  return name.toLowerCase();
}

/** `name[0..end)` is one or more dot-separated labels of `[a-z0-9_-]` (already lower-cased). */
function isLabelSequence(name: string, end: number): boolean {
  let labelLength = 0;
  for (let i = 0; i < end; i++) {
    const c = name.charCodeAt(i);
    if (c === 46) {
      if (labelLength === 0) return false;
      labelLength = 0;
    } else if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95) {
      labelLength++;
    } else {
      return false;
    }
  }
  return labelLength > 0;
}

/**
 * Why a route's `host` option is refused, or `null` (the schema's refinement and
 * {@link compileHostMatcher} share it).
 *
 * @example
 * configuredHostProblem('example.com:8080'); // 'must be a host name without a port …'
 */
export function configuredHostProblem(host: string): string | null {
  const parsed = parseConfiguredHost(host);
  return typeof parsed === 'string' ? parsed : null;
}

function parseConfiguredHost(host: unknown): { name: string; wildcard: boolean } | string {
  const example = "e.g. 'api.example.com', '*.example.com' or '[::1]'";
  if (typeof host !== 'string' || host.trim().length === 0) {
    return `must be a non-empty host name, ${example}`;
  }
  let name = host.trim().toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  // IPv6 literal, bracketed or not.
  if (name.includes(':')) {
    const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
    if (bare.length === 0 || !/^[0-9a-f:.]+$/.test(bare) || !bare.includes(':')) {
      return `must be a host name without a port (the port is ignored when matching), ${example}`;
    }
    return { name: `[${bare}]`, wildcard: false };
  }
  const wildcard = name.startsWith('*.');
  if (wildcard) name = name.slice(2);
  if (!isLabelSequence(name, name.length)) {
    return `must be a host name (letters, digits, '-', '.'), optionally starting with '*.', ${example}`;
  }
  return { name, wildcard };
}
