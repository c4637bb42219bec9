import type { ServerResponse } from 'node:http';
import type { InternalContext } from '../pipeline.js';
import type { GatewayRequest } from '../types.js';
import { hostLineCount, isValidHost } from './host-header.js';
import { describePathRejection, normalizePath, type PathRejection } from './normalize-path.js';

/**
 * How many header lines Node keeps when `server.maxHeadersCount` is left
 * `null`. The docs say 2000, but the parser's default is 2000 array entries,
 * i.e. 1000 name/value lines. Past them, Node 24 answers 431 itself, while
 * older release lines dropped the 1001st line silently (measured on Node 20;
 * see test/integration/admit-request.test.ts, which accepts either).
 */
const NODE_DEFAULT_MAX_HEADERS_COUNT = 1000;

/** What Node puts on an HTTP server's sockets; not in `@types/node`. */
interface ServerSocket {
  server?: { maxHeadersCount?: number | null };
}

const REJECTION_DETAIL: Record<PathRejection, string> = {
  not_origin_form: 'The request target must be a path starting with "/".',
  invalid_escape: 'The request path contains a "%" that is not followed by two hex digits.',
  encoded_separator: 'The request path contains an encoded "/" or "\\" (%2F or %5C).',
  backslash: 'The request path contains a backslash.',
  nul: 'The request path contains a NUL character.',
  above_root: 'The request path climbs above its root with "..".',
  control_character: 'The request path contains a control character or a space.',
  fragment_or_query: 'The request path contains a raw "#" or "?".',
  not_latin1: 'The request path contains characters that cannot come from an HTTP request line.',
  dot_segment_parameter: 'The request path has a segment starting with ".;" or "..;".',
  overlong_utf8: 'The request path contains an overlong UTF-8 escape (e.g. %C0%AE).',
};

/**
 * Judges a request before anything else looks at it, and makes its path the
 * one every later stage (matching, auth, limits) and the upstream will see.
 *
 * Refuses, through `ctx.sendProblem`:
 * - `CONNECT`, and request targets that are not origin-form (`http://host/x`,
 *   `host:443`, `*`): 400 `bad_request`. They must never reach an upstream.
 * - a request with as many raw header lines as the server's `maxHeadersCount`
 *   (when it is `null`, Node's effective default of 1000 lines; `0` turns the
 *   check off, as it turns Node's limit off):
 *   431 `request_header_fields_too_large`. A Node that drops the lines past
 *   that limit silently (rather than answering 431 itself, as Node 24 does)
 *   could hide a `Content-Length` or `Transfer-Encoding` from us while the
 *   upstream might see it.
 * - a `Host` that is not one valid host name or IP literal with an optional
 *   all-digit port ({@link isValidHost}), two `Host` lines, or none on an
 *   HTTP/1.1 request: 400 `bad_request`. Afterwards `req.headers.host` is the
 *   validated value (or absent, HTTP/1.0): the only one routes match and the
 *   upstream receives.
 * - transfer codings other than `chunked` alone (any case): `gzip, chunked`,
 *   `identity, chunked`, `chunked;x=1`, two lines joined by Node:
 *   501 `not_implemented`, as nginx. Node re-frames the body it forwards, so
 *   a coding it would silently drop could make the upstream read the body
 *   differently; the upstream only ever receives `Transfer-Encoding: chunked`
 *   (see `prepareRequestHeaders`) or a `Content-Length`.
 * - a path {@link normalizePath} refuses: 400 `bad_request`.
 *
 * Otherwise sets `req.url` to the normalised path followed by the original
 * query string (from the first `?`, byte for byte) and returns the
 * normalised path. `req.url` is the path relative to the mount point inside
 * Express, the whole target on a plain `node:http` server; either works.
 *
 * @example
 * const path = admitRequest(req, res, ctx); // '/users/42' for '/users/./42?x=1'
 * if (path === null) return;              // a 400/431/501 problem was sent
 */
export function admitRequest(
  req: GatewayRequest,
  res: ServerResponse,
  ctx: InternalContext,
): string | null {
  const url = req.url ?? '';
  if (req.method === 'CONNECT' || url.charCodeAt(0) !== 47) {
    ctx.sendProblem(req, res, {
      code: 'bad_request',
      detail: 'Only origin-form request targets ("/path?query") are accepted; CONNECT is not.',
    });
    return null;
  }
  // `null` (the default) means Node's built-in limit; 0 means Node keeps every line, so nothing can hide.
  const limit = (req.socket as ServerSocket | null)?.server?.maxHeadersCount;
  const maxHeaders = typeof limit === 'number' ? limit : NODE_DEFAULT_MAX_HEADERS_COUNT;
  if (maxHeaders > 0 && req.rawHeaders.length >= maxHeaders * 2) {
    ctx.sendProblem(req, res, {
      code: 'request_header_fields_too_large',
      detail: `The request has ${maxHeaders} or more header lines; some may have been dropped.`,
    });
    return null;
  }
  const hostProblem = judgeHost(req);
  if (hostProblem !== null) {
    ctx.sendProblem(req, res, { code: 'bad_request', detail: hostProblem });
    return null;
  }
  const codings = req.headers['transfer-encoding'];
  if (codings !== undefined && !isChunkedAlone(codings)) {
    ctx.sendProblem(req, res, {
      code: 'not_implemented',
      detail: 'Only "Transfer-Encoding: chunked" is supported for request bodies.',
    });
    return null;
  }
  const queryStart = url.indexOf('?');
  const rawPath = queryStart === -1 ? url : url.slice(0, queryStart);
  const path = normalizePath(rawPath);
  if (path === null) {
    ctx.sendProblem(req, res, {
      code: 'bad_request',
      detail: REJECTION_DETAIL[describePathRejection(rawPath) ?? 'not_origin_form'],
    });
    return null;
  }
  if (path !== rawPath) req.url = queryStart === -1 ? path : path + url.slice(queryStart);
  return path;
}

/** `chunked`, in any case, and nothing else (Node has trimmed the value and joined repeated lines). */
function isChunkedAlone(codings: string): boolean {
  return codings.length === 7 && (codings === 'chunked' || codings.toLowerCase() === 'chunked');
}

/** Why the request's `Host` is refused (the 400's `detail`), or `null` when it is acceptable. */
function judgeHost(req: GatewayRequest): string | null {
  const host = req.headers.host;
  if (host === undefined) {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400 (Node does it too unless
    // `requireHostHeader` is off); HTTP/1.0 may omit it and then matches no host-scoped route.
    return req.httpVersionMajor === 1 && req.httpVersionMinor === 0
      ? null
      : 'The request has no Host header.';
  }
  if (!isValidHost(host)) {
    return 'The Host header must be a host name or IP literal with an optional numeric port.';
  }
  if (hostLineCount(req.rawHeaders) !== 1) return 'The request has more than one Host header.';
  return null;
}
