import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';

/**
 * Test-only forwarder: sends the request on to `target` exactly as the auth
 * middleware left it (`req.method`, `req.url`, `req.headers`), and pipes the
 * answer back. It stands in for the routing layer so auth tests can assert
 * what an upstream receives.
 */
export function testForwarder(target: string) {
  const base = new URL(target);
  return function forward(req: IncomingMessage, res: ServerResponse): void {
    const upstream = request(
      {
        host: base.hostname,
        port: base.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: base.host, connection: 'close' },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  };
}
