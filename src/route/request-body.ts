import { stringify as stringifyQuery } from 'node:querystring';
import type { GatewayRequest } from '../types.js';

/**
 * Whether the request carries a body that is streamed from the client.
 *
 * @example
 * hasStreamedBody(req); // false for a GET without Content-Length or Transfer-Encoding
 */
export function hasStreamedBody(req: GatewayRequest): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * When a body parser already consumed the stream, the body it parsed,
 * serialised again for the upstream (and the headers fixed to match);
 * otherwise null and the stream is sent as it arrives.
 *
 * @example
 * const body = parsedBody(req); // Buffer after express.json() ran, else null
 */
export function parsedBody(req: GatewayRequest): Buffer | null {
  // The header checks first: a request without a body (most) skips the stream-state getter.
  if (!hasStreamedBody(req) || !req.readableEnded) return null;
  const body = serialiseBody(req.body, req.headers['content-type']);
  delete req.headers['transfer-encoding'];
  req.headers['content-length'] = String(body.length);
  return body;
}

function serialiseBody(body: unknown, contentType: string | undefined): Buffer {
  if (body === undefined) {
    throw new TypeError(
      'portcullis: the request body was already read by an earlier middleware and is not on req.body; it cannot be forwarded',
    );
  }
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body);
  const type = contentType?.toLowerCase() ?? '';
  if (
    type.includes('application/x-www-form-urlencoded') &&
    typeof body === 'object' &&
    body !== null
  ) {
    return Buffer.from(stringifyQuery(body as Record<string, string>));
  }
  if (type.includes('json')) return Buffer.from(JSON.stringify(body));
  throw new TypeError(
    `portcullis: a body parser consumed this ${contentType ?? 'untyped'} request body and it cannot be re-sent; mount the parser after the gateway or only for the host's own routes`,
  );
}
