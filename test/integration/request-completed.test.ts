// `request.completed` (SPEC §10): every request a portcullis middleware handles ends with exactly
// one, on every path a request can take — proxied, refused by the gateway itself (400 … 431),
// failed (5xx, cut mid-response, client gone) and unmatched (fall-through) — through createGateway,
// a standalone route() and a chain of standalone middlewares, on Express 4 and 5, with real
// upstreams. Each request carries its own X-Request-Id so its event can be told apart.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  authenticate,
  createGateway,
  type GatewayEvent,
  type GatewayEventOf,
  type GatewayMiddleware,
  type RateLimitStore,
  rateLimit,
  route,
} from '../../src/index.js';
import { handleUpgrades } from '../../src/route/upgrades.js';
import { closeAll } from '../helpers/close-all.js';
import { type AnyExpressApp, EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawGet } from '../helpers/raw-http.js';
import { closedPort, closeServer, startUpstream, type Upstream } from '../helpers/upstream.js';

type Completed = GatewayEventOf<'request.completed'>;

const KEY = 'alice-secret-key-0123456789';
const ADMIN_KEY = 'root-secret-key-0123456789';

/** A store that always rejects: with onStoreError 'deny' the gateway answers 503. */
const downStore: RateLimitStore = {
  consume: () => Promise.reject(new Error('store down')),
  reset() {},
};

let sequence = 0;
/** A fresh request id, so each request's event is found by it. */
function nextId(): string {
  sequence++;
  return `rc-${sequence}`;
}

/** The upstream's answers, by path. */
function upstreamBehaviour(upstream: Upstream): void {
  upstream.handle((req, res) => {
    const path = req.url ?? '';
    if (path.includes('/boom')) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('upstream error');
    } else if (path.includes('/cut')) {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 30);
    } else if (path.includes('/hold') || path.includes('/slow')) {
      // Never answers (the gateway's timeout or the client gives up).
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: path }));
    }
  });
}

/** Waits for the one `request.completed` of a request, then makes sure no second one follows. */
async function completedOnce(events: GatewayEvent[], requestId: string): Promise<Completed> {
  const of = () =>
    events.filter(
      (e): e is Completed => e.type === 'request.completed' && e.requestId === requestId,
    );
  await vi.waitFor(() => expect(of(), requestId).toHaveLength(1), { timeout: 3_000 });
  await sleep(30);
  expect(of()).toHaveLength(1);
  return of()[0] as Completed;
}

describe.each(EXPRESS_MAJORS)('request.completed through createGateway on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  const events: GatewayEvent[] = [];
  const middlewares: GatewayMiddleware[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    upstreamBehaviour(upstream);
    const dead = await closedPort();
    const onEvent = (e: GatewayEvent) => {
      events.push(e);
    };
    const gateway = createGateway({
      auth: {
        apiKey: {
          keys: [
            { id: 'alice', key: KEY, scopes: ['read'] },
            { id: 'root', key: ADMIN_KEY, scopes: ['read', 'admin'] },
          ],
        },
      },
      routes: [
        { name: 'svc', path: '/svc{/*path}', target: upstream.url, methods: ['GET'], auth: false },
        { path: '/anon{/*path}', target: upstream.url, auth: false },
        { name: 'private', path: '/private', target: upstream.url },
        { name: 'admin', path: '/admin', target: upstream.url, auth: { scopes: ['admin'] } },
        {
          name: 'limited',
          path: '/limited',
          target: upstream.url,
          auth: false,
          rateLimit: { limit: 1, window: '1m', name: 'one-a-minute' },
        },
        {
          name: 'store-down',
          path: '/store-down',
          target: upstream.url,
          auth: false,
          rateLimit: { limit: 5, window: '1m', store: downStore, onStoreError: 'deny' },
        },
        { name: 'dead', path: '/dead', target: `http://127.0.0.1:${dead}`, auth: false },
        { name: 'slow', path: '/slow', target: upstream.url, auth: false, timeout: '200ms' },
        {
          name: 'rewrite-throws',
          path: '/rw',
          target: upstream.url,
          auth: false,
          rewrite: () => {
            throw new Error('operator bug');
          },
        },
      ],
      onEvent,
    });
    const strict = createGateway({
      routes: [{ name: 'only', path: '/only', target: upstream.url }],
      fallthrough: false,
      onEvent,
    });
    const verifyFails = createGateway({
      auth: {
        verify: () => {
          throw new Error('db down');
        },
      },
      routes: [{ name: 'verified', path: '/v', target: upstream.url }],
      onEvent,
    });
    middlewares.push(gateway, strict, verifyFails);
    host = await startHost((app: AnyExpressApp) => {
      app.use('/api', gateway);
      app.get('/api/host-own', (_req: unknown, res: { send(b: string): void }) => {
        res.send('the host answered');
      });
      app.use('/strict', strict);
      app.use('/verify', verifyFails);
      app.use(
        (
          _err: unknown,
          _req: unknown,
          res: { status(n: number): { send(b: string): void } },
          _next: unknown,
        ) => {
          res.status(500).send('host error handler');
        },
      );
    }, major);
  });

  afterAll(() => closeAll(middlewares, host, upstream));

  const get = (path: string, id: string, headers: Record<string, string> = {}) =>
    fetch(`${host.url}${path}`, { headers: { 'x-request-id': id, ...headers } });

  it('proxied: the upstream answered, whatever its status; route is the name, else the template', async () => {
    const ok = nextId();
    const res = await get('/api/svc/ok?x=1', ok);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ url: '/svc/ok?x=1' });
    const event = await completedOnce(events, ok);
    expect(event).toEqual({
      type: 'request.completed',
      requestId: ok,
      route: 'svc',
      method: 'GET',
      status: 200,
      durationMs: expect.any(Number),
      outcome: 'proxied',
    });
    expect(event.durationMs).toBeGreaterThan(0);

    const anon = nextId();
    expect((await get('/api/anon/x', anon)).status).toBe(200);
    expect(await completedOnce(events, anon)).toMatchObject({
      route: '/anon{/*path}',
      outcome: 'proxied',
      status: 200,
    });

    const boom = nextId();
    expect((await get('/api/svc/boom', boom)).status).toBe(500);
    const proxied500 = await completedOnce(events, boom);
    expect(proxied500).toMatchObject({ route: 'svc', status: 500, outcome: 'proxied' });
    expect(proxied500).not.toHaveProperty('code');
    // request.completed is the request's last event.
    const mine = events.filter((e) => 'requestId' in e && e.requestId === boom);
    expect(mine.map((e) => e.type)).toEqual(['proxy.response', 'request.completed']);
  });

  it('refused: 400, 401, 403, 404, 405, 429 and 431 answered by the gateway, with their code', async () => {
    const cases: Array<[string, () => Promise<number>, Partial<Completed>]> = [];
    const badPath = nextId();
    cases.push([
      badPath,
      async () => (await rawGet(host.port, '/api/svc/a%2Fb', [`X-Request-Id: ${badPath}`])).status,
      { status: 400, code: 'bad_request', route: null },
    ]);
    const noKey = nextId();
    cases.push([
      noKey,
      async () => (await get('/api/private', noKey)).status,
      { status: 401, code: 'unauthorized', route: 'private' },
    ]);
    const noScope = nextId();
    cases.push([
      noScope,
      async () => (await get('/api/admin', noScope, { 'x-api-key': KEY })).status,
      { status: 403, code: 'forbidden', route: 'admin' },
    ]);
    const notFound = nextId();
    cases.push([
      notFound,
      async () => (await get('/strict/elsewhere', notFound)).status,
      { status: 404, code: 'not_found', route: null },
    ]);
    const wrongMethod = nextId();
    cases.push([
      wrongMethod,
      async () =>
        (
          await fetch(`${host.url}/api/svc/x`, {
            method: 'DELETE',
            headers: { 'x-request-id': wrongMethod },
          })
        ).status,
      { status: 405, code: 'method_not_allowed', route: null, method: 'DELETE' },
    ]);
    const first = nextId();
    const limited = nextId();
    cases.push([
      limited,
      async () => {
        expect((await get('/api/limited', first)).status).toBe(200);
        return (await get('/api/limited', limited)).status;
      },
      { status: 429, code: 'rate_limited', route: 'limited' },
    ]);
    const tooManyHeaders = nextId();
    cases.push([
      tooManyHeaders,
      async () => {
        host.server.maxHeadersCount = 20;
        try {
          // Exactly as many lines as the server keeps (Host, Connection, the id, 17 more): the
          // gateway cannot know whether Node dropped one. One more and Node answers itself.
          const lines = [`X-Request-Id: ${tooManyHeaders}`];
          for (let i = 0; i < 17; i++) lines.push(`X-Filler-${i}: ${i}`);
          return (await rawGet(host.port, '/api/svc/ok', lines)).status;
        } finally {
          host.server.maxHeadersCount = null;
        }
      },
      { status: 431, code: 'request_header_fields_too_large', route: null },
    ]);
    for (const [id, send, expected] of cases) {
      const status = await send();
      expect(status, id).toBe(expected.status);
      expect(await completedOnce(events, id)).toEqual({
        type: 'request.completed',
        requestId: id,
        method: 'GET',
        durationMs: expect.any(Number),
        outcome: 'refused',
        ...expected,
      });
    }
    expect(await completedOnce(events, first)).toMatchObject({ outcome: 'proxied', status: 200 });
    // None of the refused requests reached the upstream.
    const reached = upstream.received.map((r) => r.headers['x-request-id']);
    for (const [id] of cases) expect(reached).not.toContain(id);
  });

  it('failed: 500, 502, 503 and 504 answered by the gateway, with their code', async () => {
    const cases: Array<[string, string, Partial<Completed>]> = [
      [nextId(), '/verify/v', { status: 500, code: 'internal_error', route: 'verified' }],
      [nextId(), '/api/dead', { status: 502, code: 'bad_gateway', route: 'dead' }],
      [
        nextId(),
        '/api/store-down',
        { status: 503, code: 'service_unavailable', route: 'store-down' },
      ],
      [nextId(), '/api/slow', { status: 504, code: 'gateway_timeout', route: 'slow' }],
    ];
    for (const [id, path, expected] of cases) {
      const res = await get(path, id);
      expect(res.status, path).toBe(expected.status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await completedOnce(events, id)).toEqual({
        type: 'request.completed',
        requestId: id,
        method: 'GET',
        durationMs: expect.any(Number),
        outcome: 'failed',
        ...expected,
      });
    }
  });

  it('failed: an unexpected error the host answered, an upstream cut mid-response, a client that left (499)', async () => {
    const thrown = nextId();
    const res = await get('/api/rw', thrown);
    expect(res.status).toBe(500);
    expect(await completedOnce(events, thrown)).toMatchObject({
      route: 'rewrite-throws',
      status: 500,
      outcome: 'failed',
    });

    const cut = nextId();
    await new Promise<void>((resolve) => {
      const req = request(`${host.url}/api/svc/cut`, { headers: { 'x-request-id': cut } }, (r) => {
        r.on('data', () => {});
        r.on('error', () => resolve());
        r.on('close', () => resolve());
      });
      req.on('error', () => resolve());
      req.end();
    });
    const cutEvent = await completedOnce(events, cut);
    // The status line had gone out; the body was cut.
    expect(cutEvent).toMatchObject({ route: 'svc', status: 200, outcome: 'failed' });
    expect(cutEvent).not.toHaveProperty('code');

    const left = nextId();
    const before = upstream.received.length;
    const req = request(`${host.url}/api/svc/hold`, { headers: { 'x-request-id': left } });
    req.on('error', () => {});
    req.end();
    await vi.waitFor(() => expect(upstream.received.length).toBe(before + 1));
    req.destroy();
    expect(await completedOnce(events, left)).toMatchObject({
      route: 'svc',
      status: 499,
      outcome: 'failed',
    });
  });

  it('unmatched: the status the host finally answered, no route, and the incoming request id', async () => {
    const hostOwn = nextId();
    const res = await get('/api/host-own', hostOwn);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('the host answered');
    // The request left the gateway untouched: no id of the gateway's own on the response.
    expect(res.headers.get('x-request-id')).toBeNull();
    expect(await completedOnce(events, hostOwn)).toEqual({
      type: 'request.completed',
      requestId: hostOwn,
      route: null,
      method: 'GET',
      status: 200,
      durationMs: expect.any(Number),
      outcome: 'unmatched',
    });

    const nowhere = nextId();
    expect((await get('/api/nowhere', nowhere)).status).toBe(404);
    expect(await completedOnce(events, nowhere)).toMatchObject({
      route: null,
      status: 404,
      outcome: 'unmatched',
    });
    expect(await completedOnce(events, nowhere)).not.toHaveProperty('code');
  });

  it('carries no secret: keys never appear in any event', async () => {
    const id = nextId();
    expect((await get('/api/private', id, { 'x-api-key': KEY })).status).toBe(200);
    await completedOnce(events, id);
    expect(JSON.stringify(events)).not.toContain(KEY);
  });
});

describe.each(EXPRESS_MAJORS)(
  'request.completed from standalone middlewares on Express %i',
  (major) => {
    let upstream: Upstream;
    let host: Host;
    const events: GatewayEvent[] = [];
    const gatewayA: GatewayEvent[] = [];
    const gatewayB: GatewayEvent[] = [];
    const middlewares: GatewayMiddleware[] = [];

    beforeAll(async () => {
      upstream = await startUpstream();
      upstreamBehaviour(upstream);
      const onEvent = (e: GatewayEvent) => {
        events.push(e);
      };
      const guard = authenticate({ apiKey: { keys: [{ id: 'alice', key: KEY }] }, onEvent });
      const limiter = rateLimit({ limit: 2, window: '1m', onEvent });
      const proxy = route({ path: '/x{/*rest}', target: upstream.url, onEvent });
      const lone = route({ name: 'lone', path: '/lone', target: upstream.url, onEvent });
      const guardOnly = authenticate({ apiKey: { keys: [{ id: 'alice', key: KEY }] }, onEvent });
      const a = createGateway({
        routes: [{ name: 'a', path: '/a', target: upstream.url }],
        onEvent: (e) => {
          gatewayA.push(e);
        },
      });
      const b = createGateway({
        routes: [{ name: 'b', path: '/b', target: upstream.url }],
        onEvent: (e) => {
          gatewayB.push(e);
        },
      });
      middlewares.push(guard, limiter, proxy, lone, guardOnly, a, b);
      host = await startHost((app: AnyExpressApp) => {
        app.use('/chain', guard, limiter, proxy);
        app.use('/route', lone);
        app.use('/guarded', guardOnly, (_req: unknown, res: { send(b: string): void }) => {
          res.send('host handler');
        });
        app.use('/two', a, b);
      }, major);
    });

    afterAll(() => closeAll(middlewares, host, upstream));

    const get = (path: string, id: string, headers: Record<string, string> = {}) =>
      fetch(`${host.url}${path}`, { headers: { 'x-request-id': id, ...headers } });

    it('authenticate() → rateLimit() → route(): one event per request, from whichever ended it', async () => {
      const noKey = nextId();
      expect((await get('/chain/x/1', noKey)).status).toBe(401);
      expect(await completedOnce(events, noKey)).toMatchObject({
        route: null,
        status: 401,
        outcome: 'refused',
        code: 'unauthorized',
      });

      const ids = [nextId(), nextId()];
      for (const id of ids) {
        expect((await get('/chain/x/1', id, { 'x-api-key': KEY })).status).toBe(200);
        // Timed from the first middleware of the chain, reported once by route().
        expect(await completedOnce(events, id)).toMatchObject({
          route: '/x{/*rest}',
          status: 200,
          outcome: 'proxied',
        });
      }
      const limited = nextId();
      expect((await get('/chain/x/1', limited, { 'x-api-key': KEY })).status).toBe(429);
      expect(await completedOnce(events, limited)).toMatchObject({
        route: null,
        status: 429,
        outcome: 'refused',
        code: 'rate_limited',
      });
    });

    it('a standalone route(): proxied when it matches, unmatched when it hands the request on', async () => {
      const hit = nextId();
      expect((await get('/route/lone', hit)).status).toBe(200);
      expect(await completedOnce(events, hit)).toMatchObject({ route: 'lone', outcome: 'proxied' });
      const miss = nextId();
      expect((await get('/route/other', miss)).status).toBe(404);
      expect(await completedOnce(events, miss)).toMatchObject({
        route: null,
        status: 404,
        outcome: 'unmatched',
      });
    });

    it('authenticate() before the host’s own handler reports only what it refused', async () => {
      const passed = nextId();
      const res = await get('/guarded', passed, { 'x-api-key': KEY });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('host handler');
      const refused = nextId();
      expect((await get('/guarded', refused)).status).toBe(401);
      await completedOnce(events, refused);
      expect(
        events.filter((e) => e.type === 'request.completed' && e.requestId === passed),
      ).toHaveLength(0);
    });

    it('two gateways in a chain: the one that took the request reports it, once', async () => {
      const id = nextId();
      expect((await get('/two/b', id)).status).toBe(200);
      expect(await completedOnce(gatewayB, id)).toMatchObject({ route: 'b', outcome: 'proxied' });
      expect(gatewayA.filter((e) => e.type === 'request.completed')).toHaveLength(0);
      const nowhere = nextId();
      expect((await get('/two/c', nowhere)).status).toBe(404);
      expect(await completedOnce(gatewayB, nowhere)).toMatchObject({ outcome: 'unmatched' });
      expect(gatewayA.filter((e) => e.type === 'request.completed')).toHaveLength(0);
    });
  },
);

describe.each(EXPRESS_MAJORS)('request.completed for WebSocket upgrades on Express %i', (major) => {
  let wsServer: Server;
  let wsUrl: string;
  let host: Host;
  let stop: () => void;
  let gateway: GatewayMiddleware;
  const events: GatewayEvent[] = [];

  beforeAll(async () => {
    wsServer = createServer((_req, res) => res.end('plain'));
    const wss = new WebSocketServer({ server: wsServer });
    wss.on('connection', (socket) => socket.send('hello'));
    await new Promise<void>((resolve) => wsServer.listen(0, '127.0.0.1', resolve));
    wsUrl = `http://127.0.0.1:${(wsServer.address() as AddressInfo).port}`;
    gateway = createGateway({
      auth: { apiKey: { keys: [{ id: 'alice', key: KEY }] } },
      routes: [
        { name: 'live', path: '/live', target: wsUrl, websocket: true, auth: false },
        { name: 'locked', path: '/locked', target: wsUrl, websocket: true },
      ],
      onEvent: (e) => {
        events.push(e);
      },
    });
    host = await startHost((app: AnyExpressApp) => app.use('/gw', gateway), major);
    stop = handleUpgrades(host.server, host.app);
  });

  afterAll(async () => {
    stop();
    await gateway.close();
    await host.close();
    await closeServer(wsServer);
  });

  it('a tunnel is reported when it opens (101, proxied); a refused upgrade as refused', async () => {
    const id = nextId();
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/gw/live`, {
      headers: { 'x-request-id': id },
    });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(data.toString()));
      ws.once('error', reject);
    });
    expect(first).toBe('hello');
    // Reported while the tunnel is still open.
    expect(await completedOnce(events, id)).toMatchObject({
      route: 'live',
      status: 101,
      outcome: 'proxied',
    });
    ws.close();

    const refused = nextId();
    const status = await new Promise<number>((resolve, reject) => {
      const locked = new WebSocket(`ws://127.0.0.1:${host.port}/gw/locked`, {
        headers: { 'x-request-id': refused },
      });
      locked.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      locked.once('error', reject);
    });
    expect(status).toBe(401);
    expect(await completedOnce(events, refused)).toMatchObject({
      route: 'locked',
      status: 401,
      outcome: 'refused',
      code: 'unauthorized',
    });
  });
});

describe('request.completed costs nothing when nobody listens', () => {
  let upstream: Upstream;
  let host: Host;
  let gateway: GatewayMiddleware;
  const closeListeners: Array<[number, number]> = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    // No onEvent: the channel is the only way to listen.
    gateway = createGateway({ routes: [{ name: 'quiet', path: '/quiet', target: upstream.url }] });
    host = await startHost((app: AnyExpressApp) => {
      app.use(
        (
          _req: unknown,
          res: { locals: { before?: number }; listenerCount(e: string): number },
          next: () => void,
        ) => {
          res.locals.before = res.listenerCount('close');
          next();
        },
      );
      app.use(gateway);
      app.use(
        (
          _req: unknown,
          res: {
            locals: { before: number };
            listenerCount(e: string): number;
            send(b: string): void;
          },
        ) => {
          closeListeners.push([res.locals.before, res.listenerCount('close')]);
          res.send('fell through');
        },
      );
    });
  });

  afterAll(async () => {
    await gateway.close();
    await host.close();
    await upstream.close();
  });

  it('attaches nothing without a subscriber, and a subscriber that comes later is served', async () => {
    expect((await fetch(`${host.url}/elsewhere`)).status).toBe(200);
    expect(closeListeners.at(-1)?.[1]).toBe(closeListeners.at(-1)?.[0]);

    const seen: unknown[] = [];
    const onMessage = (message: unknown) => seen.push(message);
    // Subscribed after the gateway was built.
    subscribe('portcullis:request.completed', onMessage);
    try {
      const id = nextId();
      const res = await fetch(`${host.url}/elsewhere`, { headers: { 'x-request-id': id } });
      expect(res.status).toBe(200);
      // One 'close' listener, for this request only.
      expect(closeListeners.at(-1)?.[1]).toBe((closeListeners.at(-1)?.[0] ?? 0) + 1);
      await vi.waitFor(() =>
        expect(seen).toEqual([
          expect.objectContaining({
            type: 'request.completed',
            requestId: id,
            outcome: 'unmatched',
          }),
        ]),
      );
      const proxied = nextId();
      expect(
        (await fetch(`${host.url}/quiet`, { headers: { 'x-request-id': proxied } })).status,
      ).toBe(200);
      await vi.waitFor(() =>
        expect(seen.at(-1)).toMatchObject({
          requestId: proxied,
          route: 'quiet',
          outcome: 'proxied',
        }),
      );
    } finally {
      unsubscribe('portcullis:request.completed', onMessage);
    }
    const count = closeListeners.length;
    expect((await fetch(`${host.url}/elsewhere`)).status).toBe(200);
    expect(closeListeners).toHaveLength(count + 1);
    expect(closeListeners.at(-1)?.[1]).toBe(closeListeners.at(-1)?.[0]);
  });
});
