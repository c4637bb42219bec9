import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { GatewayConfigError } from '../../src/errors.js';
import { createGateway } from '../../src/gateway.js';
import { handleUpgrades } from '../../src/route/upgrades.js';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { routeCollector } from '../helpers/route-set.js';
import { closedPort, closeServer } from '../helpers/upstream.js';

interface WsUpstream {
  url: string;
  server: Server;
  /** Handshakes the upstream accepted: path and headers. */
  handshakes: Array<{ url: string; headers: IncomingHttpHeaders }>;
  /** Plain HTTP requests (anything that was not a handshake). */
  plain: string[];
  close(): Promise<void>;
}

async function startWsUpstream(): Promise<WsUpstream> {
  const handshakes: WsUpstream['handshakes'] = [];
  const plain: string[] = [];
  const server = createServer((req, res) => {
    plain.push(`${req.method} ${req.url}`);
    res.end('plain');
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    handshakes.push({ url: req.url ?? '', headers: req.headers });
    socket.send('hello from upstream');
    socket.on('message', (data) => socket.send(`echo:${data.toString()}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    handshakes,
    plain,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await closeServer(server);
    },
  };
}

/** Opens a WebSocket; resolves with its first messages, or with the HTTP status it was refused with. */
function connect(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; first: string } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('message', (data) => resolve({ ws, first: data.toString() }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

describe.each(EXPRESS_MAJORS)('WebSockets through handleUpgrades on Express %i', (major) => {
  let upstream: WsUpstream;
  let host: Host;
  let stop: () => void;
  const middlewares: GatewayMiddleware[] = [];
  const events: GatewayEvent[] = [];
  let wsBase: string;

  beforeAll(async () => {
    upstream = await startWsUpstream();
    const dead = await closedPort();
    const add = routeCollector(events, middlewares);
    host = await startHost((app) => {
      // The host's own middleware runs for upgrades too: it guards /api/guarded.
      app.use(
        '/api/guarded',
        (
          req: { headers: IncomingHttpHeaders },
          res: { status(n: number): { send(b: string): void } },
          next: () => void,
        ) => {
          if (req.headers['x-allow'] === 'yes') next();
          else res.status(403).send('refused by the host');
        },
      );
      app.use('/api', add({ path: '/chat{/*rest}', target: upstream.url, websocket: true }));
      app.use('/api', add({ path: '/guarded', target: upstream.url, websocket: true }));
      app.use('/api', add({ path: '/plain-route', target: upstream.url }));
      app.use('/api', add({ path: '/dead', target: `http://127.0.0.1:${dead}`, websocket: true }));
      const gateway = createGateway({
        auth: { apiKey: { keys: [{ id: 'alice', key: 'alice-secret-key-0123456789' }] } },
        rateLimit: { limit: 2, window: '1m' },
        routes: [{ path: '/live', target: upstream.url, websocket: true }],
        onEvent: (e) => {
          events.push(e);
        },
      });
      middlewares.push(gateway);
      app.use('/gw', gateway);
    }, major);
    stop = handleUpgrades(host.server, host.app);
    wsBase = `ws://127.0.0.1:${host.port}`;
  });

  afterAll(async () => {
    stop();
    await closeAll(middlewares, host, upstream);
  });

  afterEach(() => {
    upstream.handshakes.length = 0;
    upstream.plain.length = 0;
    events.length = 0;
  });

  it('tunnels an upgrade to a websocket route; messages flow both ways', async () => {
    const result = await connect(`${wsBase}/api/chat/room?x=1`, { 'x-request-id': 'ws-req-1' });
    if (!('ws' in result)) throw new Error(`refused with ${result.status}`);
    expect(result.first).toBe('hello from upstream');
    const reply = new Promise<string>((resolve) =>
      result.ws.once('message', (d) => resolve(d.toString())),
    );
    result.ws.send('ping');
    expect(await reply).toBe('echo:ping');
    result.ws.close();
    expect(upstream.handshakes).toHaveLength(1);
    const seen = upstream.handshakes[0];
    expect(seen?.url).toBe('/chat/room?x=1');
    expect(seen?.headers['x-request-id']).toBe('ws-req-1');
    expect(seen?.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen?.headers.host).toBe(new URL(upstream.url).host);
    expect(events.find((e) => e.type === 'proxy.response')).toMatchObject({ status: 101 });
  });

  it('answers an upgrade to a route without websocket: true with an HTTP error; the upstream sees nothing', async () => {
    const result = await connect(`${wsBase}/api/plain-route`);
    expect('status' in result && result.status).toBe(400);
    expect('body' in result && JSON.parse(result.body).code).toBe('bad_request');
    expect(upstream.handshakes).toHaveLength(0);
    expect(upstream.plain).toHaveLength(0);
  });

  it('answers an unmatched upgrade with the host app’s 404 on the socket', async () => {
    const result = await connect(`${wsBase}/api/nothing-here`);
    expect('status' in result && result.status).toBe(404);
    expect(upstream.handshakes).toHaveLength(0);
  });

  it('lets a host middleware refuse an upgrade, exactly as a plain request', async () => {
    const refused = await connect(`${wsBase}/api/guarded`);
    expect('status' in refused && refused.status).toBe(403);
    expect(upstream.handshakes).toHaveLength(0);
    const allowed = await connect(`${wsBase}/api/guarded`, { 'x-allow': 'yes' });
    expect('ws' in allowed && allowed.first).toBe('hello from upstream');
    if ('ws' in allowed) allowed.ws.close();
    expect(upstream.handshakes).toHaveLength(1);
  });

  it('answers 502 on the socket when the websocket target refuses the connection', async () => {
    const result = await connect(`${wsBase}/api/dead`);
    expect('status' in result && result.status).toBe(502);
  });

  it('refuses path tricks on upgrades too (normalisation applies)', async () => {
    const result = await connect(`${wsBase}/api/chat%2F..%2Fguarded`);
    expect('status' in result && result.status).toBe(400);
    expect(upstream.handshakes).toHaveLength(0);
  });

  it('applies the gateway’s auth and limits to upgrades: refused without a key, tunnelled with one', async () => {
    const anonymous = await connect(`${wsBase}/gw/live`);
    expect('status' in anonymous && anonymous.status).toBe(401);
    expect(upstream.handshakes).toHaveLength(0);
    const key = { 'x-api-key': 'alice-secret-key-0123456789' };
    for (let i = 0; i < 2; i++) {
      const ok = await connect(`${wsBase}/gw/live`, key);
      expect('ws' in ok && ok.first).toBe('hello from upstream');
      if ('ws' in ok) ok.ws.close();
    }
    expect(upstream.handshakes).toHaveLength(2);
    expect(upstream.handshakes[0]?.headers['x-api-key']).toBeUndefined();
    expect(upstream.handshakes[0]?.headers['x-consumer-id']).toBe('alice');
    const limited = await connect(`${wsBase}/gw/live`, key);
    expect('status' in limited && limited.status).toBe(429);
    expect(upstream.handshakes).toHaveLength(2);
  });
});

describe('handleUpgrades arguments', () => {
  it('refuses what is not a server or not an app with a GatewayConfigError naming it', () => {
    const app = (_req: unknown, _res: unknown) => {};
    const server = createServer();
    const call = (s: unknown, a: unknown) => () =>
      handleUpgrades(s as Server, a as Parameters<typeof handleUpgrades>[1]);
    for (const bad of [null, undefined, {}, 'server']) {
      expect(call(bad, app)).toThrow(GatewayConfigError);
      expect(call(bad, app)).toThrow(/^server: /);
    }
    for (const bad of [null, {}, 'app']) {
      expect(call(server, bad)).toThrow(GatewayConfigError);
      expect(call(server, bad)).toThrow(/^app: /);
    }
    // Nothing was subscribed by the refused calls.
    expect(server.listenerCount('upgrade')).toBe(0);
  });
});
