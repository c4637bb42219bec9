import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { handleUpgrades } from '../../src/route/upgrades.js';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { routeCollector } from '../helpers/route-set.js';
import { closeServer } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * WebSocket tunnels on both senders: portcullis' forwarder (`direct`, a route without `proxy`
 * options) and http-proxy-middleware (`hpm`, a route with `proxy.on` listeners, which also count
 * that it ran). Raw sockets on both ends where the bytes around the handshakes matter.
 */

const MODES = ['direct', 'hpm'] as const;

/** A raw upstream: answers each handshake with a 101 and bytes in the same write, then echoes. */
interface RawWsUpstream {
  server: NetServer;
  port: number;
  /** Per connection: everything received, and the socket. */
  received: string[];
  sockets: Socket[];
  closed: number;
}

async function startRawWsUpstream(): Promise<RawWsUpstream> {
  const up: RawWsUpstream = {
    server: createNetServer(),
    port: 0,
    received: [],
    sockets: [],
    closed: 0,
  };
  up.server.on('connection', (socket) => {
    const index = up.received.push('') - 1;
    up.sockets.push(socket);
    let upgraded = false;
    socket.on('error', () => {});
    socket.on('close', () => {
      up.closed++;
    });
    socket.on('data', (d: Buffer) => {
      up.received[index] += d.toString('latin1');
      const text = up.received[index] as string;
      if (!upgraded) {
        const end = text.indexOf('\r\n\r\n');
        if (end === -1) return;
        upgraded = true;
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Up: yes\r\n\r\nHELLO-FROM-UP|',
        );
        const rest = text.slice(end + 4);
        if (rest !== '') socket.write(`echo:${rest}|`);
      } else socket.write(`echo:${d.toString('latin1')}|`);
    });
  });
  await new Promise<void>((resolve) => up.server.listen(0, '127.0.0.1', resolve));
  up.port = (up.server.address() as AddressInfo).port;
  return up;
}

/** A `ws` upstream that refuses handshakes without `x-let-in` with 403 and a body. */
interface WsUpstream {
  server: Server;
  url: string;
  handshakes: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startWsUpstream(): Promise<WsUpstream> {
  const handshakes: IncomingHttpHeaders[] = [];
  const server = createServer((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (req.headers['x-let-in'] !== 'yes') {
      socket.end(
        'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nX-Why: no-ticket\r\nConnection: close\r\n\r\nno ticket :(',
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      handshakes.push(req.headers);
      ws.send('hello from upstream');
      ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    handshakes,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await closeServer(server);
    },
  };
}

describe.each(EXPRESS_MAJORS)('WebSocket tunnels on both senders, Express %i', (major) => {
  let raw: RawWsUpstream;
  let ws: WsUpstream;
  let host: Host;
  let stop: () => void;
  const events: GatewayEvent[] = [];
  const middlewares: GatewayMiddleware[] = [];
  const hpmRuns = { proxyReqWs: 0 };
  /** Raw clients of the running test, destroyed after it whatever happened. */
  const clients: Socket[] = [];
  const rawClient = (): Socket => {
    const socket = connect(host.port, '127.0.0.1');
    clients.push(socket);
    return socket;
  };

  beforeAll(async () => {
    raw = await startRawWsUpstream();
    ws = await startWsUpstream();
    const add = routeCollector(events, middlewares);
    host = await startHost((app) => {
      for (const mode of MODES) {
        const proxy =
          mode === 'hpm'
            ? {
                on: {
                  proxyReqWs: () => {
                    hpmRuns.proxyReqWs++;
                  },
                },
              }
            : undefined;
        app.use(
          add({
            name: `${mode}-raw`,
            path: `/${mode}/raw`,
            target: `http://127.0.0.1:${raw.port}`,
            websocket: true,
            proxy,
          }),
        );
        app.use(
          add({
            name: `${mode}-ws`,
            path: `/${mode}/ws{/*rest}`,
            target: `${ws.url}/base`,
            websocket: true,
            headers: { response: { set: { 'x-gateway': 'portcullis' } } },
            proxy,
          }),
        );
      }
    }, major);
    stop = handleUpgrades(host.server, host.app);
  });

  afterAll(async () => {
    stop();
    await closeAll(middlewares, host, ws);
    for (const socket of raw.sockets) socket.destroy();
    await new Promise((resolve) => raw.server.close(resolve));
  });

  beforeEach(() => {
    events.length = 0;
    ws.handshakes.length = 0;
  });

  afterEach(() => {
    for (const socket of clients) socket.destroy();
    clients.length = 0;
  });

  describe.each(MODES)('%s', (mode) => {
    it('passes the 101, and the bytes that followed each handshake, then pipes both ways', async () => {
      const runsBefore = hpmRuns.proxyReqWs;
      const connectionsBefore = raw.received.length;
      const client = rawClient();
      let got = '';
      client.on('data', (d: Buffer) => {
        got += d.toString('latin1');
      });
      const clientClosed = new Promise<void>((resolve) => client.on('close', () => resolve()));
      // The handshake and the first frame's bytes in one write: they reach the gateway together.
      client.write(
        `GET /${mode}/raw?room=1 HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Request-Id: tunnel-1\r\n\r\nEARLY`,
      );
      await waitFor(() => got.includes('echo:EARLY|'), 'the early bytes echoed');
      expect(got.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
      // (http-proxy-middleware writes the header names lower-case; the forwarder as received.)
      const head = got.slice(0, got.indexOf('\r\n\r\n')).toLowerCase();
      expect(head).toContain('\r\nx-up: yes');
      expect(head).toContain('\r\nupgrade: websocket');
      expect(got.slice(got.indexOf('\r\n\r\n') + 4)).toBe('HELLO-FROM-UP|echo:EARLY|');

      client.write('ping');
      await waitFor(() => got.endsWith('echo:ping|'), 'ping echoed');

      // What the upstream received: the prepared handshake, then exactly the client's bytes.
      const upstreamSaw = raw.received[connectionsBefore] ?? '';
      const [handshake = '', after = ''] = upstreamSaw.split('\r\n\r\n');
      const lines = handshake.toLowerCase().split('\r\n');
      expect(lines[0]).toBe(`get /${mode}/raw?room=1 http/1.1`);
      expect(lines).toContain('upgrade: websocket');
      expect(lines).toContain('connection: upgrade');
      expect(lines).toContain('x-request-id: tunnel-1');
      expect(lines).toContain('x-forwarded-for: 127.0.0.1');
      expect(lines).toContain(`host: 127.0.0.1:${raw.port}`);
      expect(after).toBe('EARLYping');

      // The client leaves: the upstream's end of the tunnel closes too.
      const upstreamClosedBefore = raw.closed;
      client.end();
      await clientClosed;
      await waitFor(() => raw.closed > upstreamClosedBefore, 'upstream socket closed');
      expect(events).toEqual([
        expect.objectContaining({ type: 'proxy.response', status: 101, attempt: 1 }),
      ]);
      expect(hpmRuns.proxyReqWs - runsBefore).toBe(mode === 'hpm' ? 1 : 0);
    });

    it('closes the client when the upstream ends the tunnel', async () => {
      const connectionsBefore = raw.received.length;
      const client = rawClient();
      let got = '';
      client.on('data', (d: Buffer) => {
        got += d.toString('latin1');
      });
      const clientClosed = new Promise<void>((resolve) => client.on('close', () => resolve()));
      client.write(
        `GET /${mode}/raw HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
      );
      await waitFor(() => got.includes('HELLO-FROM-UP|'), '101 and greeting');
      await waitFor(() => raw.received.length > connectionsBefore, 'upstream connection');
      // The upstream ends its side of the tunnel.
      raw.sockets[connectionsBefore]?.end();
      await clientClosed;
    });

    it('tunnels a real WebSocket with the prepared headers; frames flow both ways', async () => {
      const socket = new WebSocket(`ws://127.0.0.1:${host.port}/${mode}/ws/chat?x=1`, {
        headers: { 'x-let-in': 'yes', 'x-request-id': `ws-${mode}` },
      });
      const first = await new Promise<string>((resolve, reject) => {
        socket.once('message', (d) => resolve(d.toString()));
        socket.once('error', reject);
      });
      expect(first).toBe('hello from upstream');
      const reply = new Promise<string>((resolve) =>
        socket.once('message', (d) => resolve(d.toString())),
      );
      socket.send('ping');
      expect(await reply).toBe('echo:ping');
      socket.close();
      expect(ws.handshakes).toHaveLength(1);
      expect(ws.handshakes[0]?.['x-request-id']).toBe(`ws-${mode}`);
      expect(ws.handshakes[0]?.host).toBe(new URL(ws.url).host);
    });

    it('relays a refused upgrade to the client as the upstream answered it', async () => {
      const refused = await new Promise<{
        status: number;
        body: string;
        headers: IncomingHttpHeaders;
      }>((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${host.port}/${mode}/ws/chat`);
        socket.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => {
            body += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        });
        socket.once('open', () => reject(new Error('the upgrade was not refused')));
        socket.on('error', () => {});
      });
      expect(refused.status).toBe(403);
      expect(refused.body).toBe('no ticket :(');
      expect(refused.headers['x-why']).toBe('no-ticket');
      expect(ws.handshakes).toHaveLength(0);
      await waitFor(() => events.length > 0, 'an event');
      expect(events).toEqual([
        expect.objectContaining({ type: 'proxy.response', route: `${mode}-ws`, status: 403 }),
      ]);
      if (mode === 'direct') {
        // Relayed as an ordinary response: the route's response rules apply.
        expect(refused.headers['x-gateway']).toBe('portcullis');
      }
    });
  });
});
