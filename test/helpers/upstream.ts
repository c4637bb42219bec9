import { createHash } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as a test upstream received it. */
export interface ReceivedRequest {
  method: string;
  /** The request target exactly as it arrived on the wire (path and query). */
  url: string;
  headers: IncomingHttpHeaders;
  /** Raw header lines, to check duplicates and order. */
  rawHeaders: string[];
  body: Buffer;
  bodySha256: string;
}

export interface Upstream {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  server: Server;
  /** Every request received so far, in order. */
  received: ReceivedRequest[];
  /** Replace how requests are answered (default: 200 JSON echo of method, url, headers). */
  handle(handler: UpstreamHandler): void;
  close(): Promise<void>;
}

export type UpstreamHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  received: ReceivedRequest,
) => void;

export const echoHandler: UpstreamHandler = (_req, res, received) => {
  const body = JSON.stringify({
    method: received.method,
    url: received.url,
    headers: received.headers,
    bodyLength: received.body.length,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
  res.end(body);
};

/**
 * A real HTTP server on 127.0.0.1:0 that records every request it receives
 * (the body is read whole before the handler runs; use `rawHandler` to stream).
 */
export async function startUpstream(
  options: { rawHandler?: (req: IncomingMessage, res: ServerResponse) => void } = {},
): Promise<Upstream> {
  let handler: UpstreamHandler = echoHandler;
  const received: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    if (options.rawHandler) {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.alloc(0),
        bodySha256: '',
      });
      options.rawHandler(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const record: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
        bodySha256: createHash('sha256').update(body).digest('hex'),
      };
      received.push(record);
      handler(req, res, record);
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    received,
    handle(h) {
      handler = h;
    },
    close: () => closeServer(server),
  };
}

/** Closes a server and every connection still open on it. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await closeServer(server);
  return port;
}
