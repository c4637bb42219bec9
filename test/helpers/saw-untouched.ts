import type { ServerResponse } from 'node:http';
import type { GatewayRequest } from '../../src/types.js';

/**
 * The host app's last handler: answers 404 'host 404' and reports in `X-Saw` what a request
 * passed on by portcullis looked like when it got here (req.gateway set? the X-Request-Id header
 * and the URL as the host app sees them), so tests can check it was passed on untouched.
 */
export function sawUntouched(req: GatewayRequest, res: ServerResponse): void {
  const saw = {
    gateway: req.gateway !== undefined,
    requestId: req.headers['x-request-id'] ?? null,
    url: (req as GatewayRequest & { originalUrl?: string }).originalUrl ?? req.url,
  };
  res.statusCode = 404;
  res.setHeader('X-Saw', JSON.stringify(saw));
  res.end('host 404');
}
