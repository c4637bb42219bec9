// Two tiny demo upstream services for the examples: each answers every
// request with JSON describing what it received, so you can see what the
// gateway forwarded (path, query, and the headers it added or removed).
import { createServer, type Server } from 'node:http';

export function startDemoUpstream(name: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.stringify(
        {
          service: name,
          method: req.method,
          url: req.url,
          consumer: req.headers['x-consumer-id'] ?? null,
          requestId: req.headers['x-request-id'] ?? null,
          forwardedFor: req.headers['x-forwarded-for'] ?? null,
          receivedApiKey: 'x-api-key' in req.headers,
          bodyBytes: Buffer.concat(chunks).length,
        },
        null,
        2,
      );
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${body}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
