import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { GatewayContext, GatewayRequest } from './types.js';

const REQUEST_ID_HEADER = 'x-request-id';

/** 1–128 characters from `[A-Za-z0-9._:-]`, checked without a regex. */
export function isValidRequestId(value: string): boolean {
  const n = value.length;
  if (n === 0 || n > 128) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    const ok =
      (c >= 48 && c <= 58) || // 0-9 and ':'
      (c >= 65 && c <= 90) || // A-Z
      (c >= 97 && c <= 122) || // a-z
      c === 45 || // -
      c === 46 || // .
      c === 95; // _
    if (!ok) return false;
  }
  return true;
}

/**
 * Returns `req.gateway`, creating it on first use: whichever portcullis
 * middleware runs first fixes the request id, echoes it on the response and
 * rewrites the incoming header so the upstream receives the same id.
 */
export function gatewayContext(req: GatewayRequest, res: ServerResponse): GatewayContext {
  const existing = req.gateway;
  if (existing !== undefined) return existing;
  const incoming = req.headers[REQUEST_ID_HEADER];
  const requestId =
    typeof incoming === 'string' && isValidRequestId(incoming) ? incoming : randomUUID();
  req.headers[REQUEST_ID_HEADER] = requestId;
  if (!res.headersSent) res.setHeader('X-Request-Id', requestId);
  const context: GatewayContext = { requestId };
  req.gateway = context;
  return context;
}
