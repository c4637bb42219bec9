import type { GatewayRequest } from './types.js';

/**
 * The client address as the host app trusts it: Express's `req.ip` (honours
 * `trust proxy`), else the socket's.
 *
 * Without an `X-Forwarded-For` header Express's getter can only answer the
 * socket's address (proxy-addr has no other address to trust), so it is not
 * run then: it looks `trust proxy` up and builds two arrays on every call. An
 * `ip` a middleware defined on the request object itself is still honoured.
 *
 * @example
 * clientAddress(req); // '203.0.113.7' (req.ip, honouring trust proxy)
 */
export function clientAddress(req: GatewayRequest): string | undefined {
  if (req.headers['x-forwarded-for'] === undefined && !Object.hasOwn(req, 'ip')) {
    return req.socket?.remoteAddress;
  }
  return req.ip ?? req.socket?.remoteAddress;
}
