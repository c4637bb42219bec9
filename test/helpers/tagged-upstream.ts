import { type Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { startUpstream, type Upstream } from './upstream.js';

/** What a tagged upstream answers: who it is and what the gateway told it about the request. */
export interface TaggedAnswer {
  /** The upstream's own tag (which configuration it belongs to). */
  upstream: string;
  /** The `x-config` header the route set (the configuration that forwarded the request). */
  config: string | null;
  /** `x-consumer-id` as the gateway forwarded it, or null. */
  consumer: string | null;
  url: string;
}

/** A real upstream that says which configuration it belongs to and counts its connections. */
export interface TaggedUpstream extends Upstream {
  readonly tag: string;
  /** Every connection the upstream accepted, in order. */
  readonly sockets: Socket[];
  /** Connections still open now. */
  openConnections(): number;
}

/**
 * Starts an upstream that answers every request with a {@link TaggedAnswer}; a path containing
 * `/slow` is answered after `slowMs` (default 1 s).
 */
export async function startTaggedUpstream(tag: string, slowMs = 1_000): Promise<TaggedUpstream> {
  const upstream = await startUpstream();
  const sockets: Socket[] = [];
  upstream.server.on('connection', (socket: Socket) => {
    sockets.push(socket);
  });
  upstream.handle((req, res) => {
    const answer: TaggedAnswer = {
      upstream: tag,
      config: headerValue(req.headers['x-config']),
      consumer: headerValue(req.headers['x-consumer-id']),
      url: req.url ?? '',
    };
    const send = () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    };
    if (req.url?.includes('/slow')) setTimeout(send, slowMs).unref();
    else send();
  });
  return Object.assign(upstream, {
    tag,
    sockets,
    openConnections: () => sockets.filter((s) => !s.destroyed).length,
  });
}

function headerValue(value: string | string[] | undefined): string | null {
  return typeof value === 'string' ? value : null;
}

/** One response as a test client got it. */
export interface ClientResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A GET through `agent` (keep-alive or not), with the whole body; rejects on any network error,
 * so a request the gateway cut is a failure the caller sees.
 */
export function get(
  url: string,
  headers: Record<string, string> = {},
  agent?: Agent,
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
