import type { IncomingHttpHeaders } from 'node:http';

/**
 * The hop-by-hop headers that manage the connection and frame the message: Node's business on
 * every connection, never a route's to set (the schema refuses them in `headers.*.set`).
 */
export const CONNECTION_HEADERS: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1 plus the historical ones): they
 * describe one connection and are never copied in either direction.
 * `Transfer-Encoding` is among them: the framing of what the gateway sends
 * is its own and Node's. A request body goes up with exactly
 * `Transfer-Encoding: chunked` (set by `prepareRequestHeaders`, never the
 * client's value) or its `Content-Length`.
 *
 * @example
 * copyHeadersExcept(req.headers, new Set(HOP_BY_HOP_REQUEST), null);
 */
export const HOP_BY_HOP_REQUEST: readonly string[] = [
  ...CONNECTION_HEADERS,
  'proxy-authorization',
  'proxy-authenticate',
];

/**
 * The response-side list, the same names (Node frames the response to the client itself).
 *
 * @example
 * copyHeadersExcept(proxyRes.headers, new Set(HOP_BY_HOP_RESPONSE), null);
 */
export const HOP_BY_HOP_RESPONSE: readonly string[] = HOP_BY_HOP_REQUEST;

/**
 * Names a peer may list in `Connection` without them being dropped: dropping
 * them would change the message's framing or routing, which is Node's and the
 * gateway's job, not a peer's.
 */
const PROTECTED = new Set(['content-length', 'transfer-encoding', 'host']);

/**
 * The names a `Connection` value lists (RFC 9110 §7.6.1), lower-case, other
 * than the protected ones; `null` when there is no header or it is one of the
 * common values `keep-alive`, `close` and `upgrade`, which name nothing else
 * and cost no split.
 *
 * @example
 * connectionNamed('close, X-Secret'); // Set { 'x-secret' }
 */
export function connectionNamed(value: string | undefined): Set<string> | null {
  if (value === undefined) return null;
  const lower = value.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close' || lower === 'upgrade') return null;
  const names = new Set<string>();
  for (const token of lower.split(',')) {
    const name = token.trim();
    if (name !== '' && !PROTECTED.has(name)) names.add(name);
  }
  return names;
}

/**
 * Whether a (lower-case) header name is an `X-Forwarded-*` header. A client's
 * copy of any of them is dropped, not only the listed ones: `X-Forwarded-User`,
 * `-Email`, `-Client-Cert`, `-Uri`, … carry identity or routing to the
 * upstreams that read them (oauth2-proxy, Envoy, Traefik), and the gateway
 * vouches for none but the three it sets itself.
 *
 * @example
 * isForwardingHeader('x-forwarded-user'); // true
 */
export function isForwardingHeader(name: string): boolean {
  return name.length > 12 && name.charCodeAt(0) === 120 && name.startsWith('x-forwarded-');
}

/**
 * A copy of `headers` without the names in `skip` (lower-case) or in `alsoSkip`,
 * and, with `dropForwarding` (default `false`), without any `X-Forwarded-*`
 * (see `isForwardingHeader`). Header objects are rebuilt like this rather than
 * `delete`d from: one `delete` turns an object into a slow dictionary for every
 * later read, write and copy (http-proxy-middleware copies the request headers,
 * Node writes each one).
 *
 * @example
 * copyHeadersExcept(req.headers, new Set(['x-api-key']), connectionNamed(req.headers.connection));
 */
export function copyHeadersExcept(
  headers: IncomingHttpHeaders,
  skip: ReadonlySet<string>,
  alsoSkip: ReadonlySet<string> | null,
  dropForwarding = false,
): IncomingHttpHeaders {
  const copy: IncomingHttpHeaders = {};
  const names = Object.keys(headers);
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (skip.has(name) || (dropForwarding && isForwardingHeader(name)) || alsoSkip?.has(name)) {
      continue;
    }
    copy[name] = headers[name];
  }
  return copy;
}

/**
 * Deletes the listed (lower-case) names from `headers`, touching only those present.
 *
 * @example
 * deleteAll(req.headers, ['x-a', 'x-b']);
 */
export function deleteAll(headers: IncomingHttpHeaders, names: readonly string[]): void {
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (headers[name] !== undefined) delete headers[name];
  }
}
