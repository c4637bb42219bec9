// Issue 11 item 4 (SPEC §8, Upgrade): any Upgrade token was tunnelled on a websocket route (`h2c`
// and `foo` got 101), because the header was rewritten to `websocket` before it was checked. Only
// `Upgrade: websocket` (any case, alone) is tunnelled now; anything else gets 400 on every matched
// route, upgrade or ordinary request. Raw sockets through handleUpgrades; the upstream counts every
// TCP connection it is offered, so "saw nothing" means no byte reached it.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createGateway, type GatewayMiddleware, handleUpgrades, route } from '../../src/index.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { expectProblem } from '../helpers/problem.js';
import { parseRawResponse, type RawResponse, rawMessage } from '../helpers/raw-http.js';
import { closeServer } from '../helpers/upstream.js';

interface WsUpstream {
  url: string;
  /** TCP connections the upstream accepted (any request, any protocol). */
  connections: number;
  handshakes: Array<{ url: string; headers: IncomingHttpHeaders }>;
  plain: Array<{ url: string; headers: IncomingHttpHeaders }>;
  close(): Promise<void>;
}

async function startWsUpstream(): Promise<WsUpstream> {
  const upstream = {
    connections: 0,
    handshakes: [] as WsUpstream['handshakes'],
    plain: [] as WsUpstream['plain'],
  };
  const server: Server = createServer((req, res) => {
    upstream.plain.push({ url: req.url ?? '', headers: req.headers });
    res.end('plain');
  });
  server.on('connection', () => {
    upstream.connections++;
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    upstream.handshakes.push({ url: req.url ?? '', headers: req.headers });
    socket.send('hello');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(upstream, {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await closeServer(server);
    },
  });
}

/** Sends raw bytes; resolves with the response once it is whole (the head alone for a 101), or the socket closed. */
function rawExchange(port: number, request: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response within 5 s: ${JSON.stringify(data)}`));
    }, 5_000);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseRawResponse(data));
    };
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      // A 101 keeps the socket open as a tunnel, and a request Node did not take for an upgrade
      // (an empty Upgrade) keeps it alive: stop once the head, and the body it announces, are in.
      const headEnd = data.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      if (data.startsWith('HTTP/1.1 101')) done();
      const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, headEnd));
      if (length !== null && data.length >= headEnd + 4 + Number(length[1])) done();
    });
    socket.on('close', done);
    socket.on('error', done);
    socket.write(request);
  });
}

function upgradeRequest(path: string, upgrades: string[], method = 'GET'): string {
  return [
    `${method} ${path} HTTP/1.1`,
    'Host: gw.example',
    'Connection: Upgrade',
    ...upgrades.map((u) => `Upgrade: ${u}`),
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
    '',
    '',
  ].join('\r\n');
}

/** An ordinary request (no `Connection: upgrade`, so Node's 'request' event) carrying Upgrade. */
function plainRequest(path: string, upgrades: string[]): Buffer {
  return rawMessage(
    'GET',
    path,
    ['gw.example'],
    upgrades.map((u) => `Upgrade: ${u}`),
  );
}

const REFUSED: string[][] = [
  ['h2c'],
  ['foo'],
  ['websocket, h2c'],
  ['h2c, websocket'],
  ['websocket', 'h2c'],
  ['WebSocket/13'],
  [''],
];

describe.each(EXPRESS_MAJORS)('Upgrade tokens on Express %i', (major) => {
  let upstream: WsUpstream;
  let host: Host;
  let stop: () => void;
  const middlewares: GatewayMiddleware[] = [];

  beforeAll(async () => {
    upstream = await startWsUpstream();
    host = await startHost((app) => {
      const gateway = createGateway({
        routes: [
          { path: '/ws', target: upstream.url, websocket: true },
          { path: '/plain', target: upstream.url },
        ],
      });
      const wsRoute = route({ path: '/ws', target: upstream.url, websocket: true });
      const plainRoute = route({ path: '/plain', target: upstream.url });
      middlewares.push(gateway, wsRoute, plainRoute);
      app.use('/gw', gateway);
      app.use('/rt', wsRoute, plainRoute);
    }, major);
    stop = handleUpgrades(host.server, host.app);
  });

  afterAll(() => {
    stop();
    return closeAll(middlewares, host, upstream);
  });

  afterEach(() => {
    upstream.connections = 0;
    upstream.handshakes.length = 0;
    upstream.plain.length = 0;
  });

  async function expectUpstreamSawNothing(): Promise<void> {
    // Time for a forwarded connection to arrive before concluding none did.
    await sleep(50);
    expect(upstream.connections).toBe(0);
    expect(upstream.handshakes).toEqual([]);
    expect(upstream.plain).toEqual([]);
  }

  describe.each(['/gw', '/rt'])('through %s', (mount) => {
    it.each(['websocket', 'WebSocket', 'WEBSOCKET'])('tunnels Upgrade: %s (101)', async (token) => {
      const response = await rawExchange(host.port, upgradeRequest(`${mount}/ws`, [token]));
      expect(response.status).toBe(101);
      expect(response.headers.upgrade?.toLowerCase()).toBe('websocket');
      expect(upstream.handshakes).toHaveLength(1);
      expect(upstream.handshakes[0]?.headers.upgrade).toBe('websocket');
    });

    it.each(REFUSED)(
      'answers an upgrade with Upgrade %j on a websocket route with 400; the upstream sees nothing',
      async (...upgrades) => {
        const response = await rawExchange(host.port, upgradeRequest(`${mount}/ws`, upgrades));
        expectProblem(response, 400, 'bad_request');
        await expectUpstreamSawNothing();
      },
    );

    it.each([['h2c'], ['websocket']])(
      'answers an upgrade with Upgrade %j on a route without websocket: true with 400; the upstream sees nothing',
      async (...upgrades) => {
        const response = await rawExchange(host.port, upgradeRequest(`${mount}/plain`, upgrades));
        expectProblem(response, 400, 'bad_request');
        await expectUpstreamSawNothing();
      },
    );

    it('answers a WebSocket upgrade that is not a GET with 400; the upstream sees nothing', async () => {
      const response = await rawExchange(
        host.port,
        upgradeRequest(`${mount}/ws`, ['websocket'], 'POST'),
      );
      expectProblem(response, 400, 'bad_request');
      await expectUpstreamSawNothing();
    });

    it.each([
      ['/ws', ['h2c']],
      ['/plain', ['h2c']],
      ['/plain', ['websocket, h2c']],
    ])(
      'answers an ordinary request to %s carrying Upgrade %j with 400; the upstream sees nothing',
      async (path, upgrades) => {
        const response = await rawExchange(host.port, plainRequest(`${mount}${path}`, upgrades));
        expectProblem(response, 400, 'bad_request');
        await expectUpstreamSawNothing();
      },
    );

    it('forwards an ordinary request carrying Upgrade: websocket without the Upgrade header', async () => {
      const response = await rawExchange(host.port, plainRequest(`${mount}/plain`, ['websocket']));
      expect(response.status).toBe(200);
      expect(response.body).toBe('plain');
      expect(upstream.plain).toHaveLength(1);
      expect(upstream.plain[0]?.headers.upgrade).toBeUndefined();
    });

    it('lets an unmatched upgrade with Upgrade: h2c fall through to the host app', async () => {
      const response = await rawExchange(host.port, upgradeRequest(`${mount}/elsewhere`, ['h2c']));
      // Express's own 404, not a gateway problem.
      expect(response.status).toBe(404);
      expect(response.headers['content-type']).not.toBe('application/problem+json');
      await expectUpstreamSawNothing();
    });
  });
});
