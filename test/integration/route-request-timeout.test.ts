import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RouteProxyOptions } from '../../src/schema/route.js';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { parseRawResponse } from '../helpers/raw-http.js';
import { routeCollector } from '../helpers/route-set.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * SPEC §8: a request body that stops arriving for longer than the route's `timeout` cuts the
 * exchange (408 `request_timeout` if nothing was answered yet, else the client connection is cut)
 * and the upstream request is aborted. Clients are raw sockets (an HTTP client would not stall
 * mid-body on request); upstreams record what they received and how their request ended. Both
 * senders: portcullis' forwarder (`direct`) and http-proxy-middleware (`hpm`, a `proxy` option).
 */

const TIMEOUT_MS = 500;

/** What an upstream saw of one request: body bytes, and whether it arrived whole. */
interface UpstreamView {
  url: string;
  contentLength: string | undefined;
  bytes: number;
  complete: boolean | null;
  closed: boolean;
}

/** A raw client: writes `head` and `body`, then stays silent; resolves when the gateway closes. */
interface StalledClient {
  socket: Socket;
  /** When the last byte was written. */
  sentAt: number;
  /** Everything received, and when the first byte came. */
  received(): string;
  firstByteAt(): number;
  closed: Promise<number>;
}

function stalledClient(port: number, request: string): Promise<StalledClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let firstByteAt = 0;
    socket.on('data', (c: Buffer) => {
      if (firstByteAt === 0) firstByteAt = Date.now();
      chunks.push(c);
    });
    socket.on('error', () => {});
    const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now())));
    socket.once('error', reject);
    socket.write(request, () => {
      resolve({
        socket,
        sentAt: Date.now(),
        received: () => Buffer.concat(chunks).toString('latin1'),
        firstByteAt: () => firstByteAt,
        closed,
      });
    });
  });
}

const MODES = ['direct', 'hpm'] as const;

describe.each(EXPRESS_MAJORS)('route() request body stalls on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  /** Accepts connections and never reads them: an upstream that holds a body back. */
  let deaf: NetServer;
  const deafSockets = new Set<Socket>();
  const events: GatewayEvent[] = [];
  const middlewares: GatewayMiddleware[] = [];
  const views: UpstreamView[] = [];
  let answerEarly = false;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const view: UpstreamView = {
      url: req.url ?? '',
      contentLength: req.headers['content-length'],
      bytes: 0,
      complete: null,
      closed: false,
    };
    views.push(view);
    req.on('data', (c: Buffer) => {
      view.bytes += c.length;
    });
    req.on('error', () => {});
    req.on('close', () => {
      view.closed = true;
      view.complete = req.complete;
    });
    req.on('end', () => {
      if (!answerEarly) res.end(`got ${view.bytes}`);
    });
    if (answerEarly) {
      // Answers before reading the body: the response starts while the client still uploads.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('early ');
    }
  };

  beforeAll(async () => {
    upstream = await startUpstream({ rawHandler: handler });
    deaf = createNetServer({ pauseOnConnect: true }, (socket) => {
      deafSockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => deaf.listen(0, '127.0.0.1', resolve));
    const deafPort = (deaf.address() as AddressInfo).port;
    const add = routeCollector(events, middlewares);
    // Any option but `agent` sends through http-proxy-middleware.
    const hpm: RouteProxyOptions = { preserveHeaderKeyCase: false };
    host = await startHost((app) => {
      for (const mode of MODES) {
        const proxy = mode === 'hpm' ? hpm : undefined;
        app.use(
          add({
            name: mode,
            path: `/${mode}{/*rest}`,
            target: upstream.url,
            timeout: TIMEOUT_MS,
            proxy,
          }),
        );
        app.use(
          add({
            name: `${mode}-deaf`,
            path: `/${mode}-deaf{/*rest}`,
            target: `http://127.0.0.1:${deafPort}`,
            timeout: TIMEOUT_MS,
            proxy,
          }),
        );
      }
    }, major);
  });

  afterAll(async () => {
    await closeAll(middlewares, host, upstream);
    for (const socket of deafSockets) socket.destroy();
    await new Promise((resolve) => deaf.close(resolve));
  });

  beforeEach(() => {
    views.length = 0;
    events.length = 0;
    answerEarly = false;
  });

  describe.each(MODES)('%s', (mode) => {
    it('answers 408 when the body stops arriving for longer than timeout, and aborts the upstream request', async () => {
      const client = await stalledClient(
        host.port,
        `POST /${mode}/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n0123456789`,
      );
      const closedAt = await client.closed;
      const response = parseRawResponse(client.received());

      // The client: a 408 problem within about `timeout` of its last byte, then the connection closed.
      expect(response.status).toBe(408);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.headers.connection).toBe('close');
      expect(JSON.parse(response.body)).toMatchObject({ status: 408, code: 'request_timeout' });
      const answeredAfter = client.firstByteAt() - client.sentAt;
      expect(answeredAfter).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(answeredAfter).toBeLessThan(TIMEOUT_MS + 700);
      expect(closedAt - client.firstByteAt()).toBeLessThan(1_000);

      // The upstream: the request started with the 10 bytes, then was cut (never complete).
      await waitFor(() => views[0]?.closed === true, 'upstream request closed', 2_000);
      expect(views).toHaveLength(1);
      expect(views[0]).toMatchObject({
        url: `/${mode}/upload`,
        contentLength: '100',
        bytes: 10,
        complete: false,
      });
      expect(events).toEqual([
        expect.objectContaining({
          type: 'proxy.error',
          route: mode,
          status: 408,
          code: 'request_timeout',
          attempt: 1,
        }),
      ]);
    });

    it('cuts the client connection when the response had already started', async () => {
      answerEarly = true;
      const client = await stalledClient(
        host.port,
        `PUT /${mode}/early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789`,
      );
      const closedAt = await client.closed;
      const received = client.received();
      // The 200 and the first bytes arrived; then the connection was cut, the body never complete.
      expect(received.startsWith('HTTP/1.1 200 OK')).toBe(true);
      expect(received).toContain('early ');
      expect(received).not.toContain('0\r\n\r\n');
      expect(closedAt - client.sentAt).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(closedAt - client.sentAt).toBeLessThan(TIMEOUT_MS + 1_000);
      await waitFor(() => views[0]?.closed === true, 'upstream request closed', 2_000);
      expect(views[0]).toMatchObject({ bytes: 10, complete: false });
      expect(events).toEqual([
        expect.objectContaining({ type: 'proxy.error', status: 200, code: 'request_timeout' }),
      ]);
    });

    it('lets a body that keeps arriving take longer than timeout', async () => {
      const client = await stalledClient(
        host.port,
        `POST /${mode}/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\nab`,
      );
      // Gaps of 350 ms, below the route's 500 ms; more than twice the timeout in all.
      for (const part of ['cd', 'ef', 'gh']) {
        await new Promise((resolve) => setTimeout(resolve, 350));
        client.socket.write(part);
      }
      await client.closed;
      const response = parseRawResponse(client.received());
      expect(response.status).toBe(200);
      expect(response.body).toBe('got 8');
      expect(views[0]).toMatchObject({ bytes: 8, complete: true });
      expect(events).toEqual([expect.objectContaining({ type: 'proxy.response', status: 200 })]);
    });

    it('blames the upstream, not the client, when it stops reading the body: 504', async () => {
      const client = await stalledClient(
        host.port,
        `POST /${mode}-deaf/sink HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`,
      );
      // The client keeps sending as fast as the gateway takes it; the upstream reads nothing.
      const chunk = Buffer.alloc(256 * 1024, 120);
      let writing = true;
      const pump = (): void => {
        while (writing && client.socket.write(chunk)) {}
        if (writing) client.socket.once('drain', pump);
      };
      pump();
      try {
        await waitFor(() => client.received().includes('\r\n\r\n'), 'a response', 5_000);
      } finally {
        writing = false;
      }
      const response = parseRawResponse(client.received());
      expect(response.status).toBe(504);
      expect(JSON.parse(response.body.slice(0, response.body.lastIndexOf('}') + 1))).toMatchObject({
        code: 'gateway_timeout',
      });
      client.socket.destroy();
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'proxy.error', status: 504, code: 'gateway_timeout' }),
      );
    });
  });
});
