// gateway.close({ graceMs }): a real Express host, a slow real upstream and a real WebSocket
// upstream; requests and a tunnel in flight while the gateway drains, with enough grace and
// without.
import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  createGateway,
  type Gateway,
  GatewayConfigError,
  type GatewayEvent,
  handleUpgrades,
} from '../../src/index.js';
import { type Host, startHost } from '../helpers/host.js';
import { get, startTaggedUpstream, type TaggedUpstream } from '../helpers/tagged-upstream.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  upstream: TaggedUpstream;
  wss: WebSocketServer;
  gateway: Gateway;
  host: Host;
  events: GatewayEvent[];
}

async function setup(slowMs: number): Promise<Setup> {
  const upstream = await startTaggedUpstream('v1', slowMs);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (socket) => socket.on('message', (d) => socket.send(`echo:${d}`)));
  const wsTarget = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const events: GatewayEvent[] = [];
  const gateway = createGateway({
    routes: [
      { name: 'svc', path: '/svc{/*p}', target: upstream.url },
      { name: 'chat', path: '/chat', target: wsTarget, websocket: true },
    ],
    onEvent: (event) => events.push(event),
  });
  const host = await startHost((app) => app.use('/api', gateway));
  const stop = handleUpgrades(host.server, host.app);
  cleanups.push(
    () => upstream.close(),
    () => {
      for (const client of wss.clients) client.terminate();
      return new Promise((resolve) => wss.close(resolve));
    },
    () => host.close(),
    stop,
    () => gateway.close({ graceMs: 0 }),
  );
  return { upstream, wss, gateway, host, events };
}

async function openTunnel(host: Host): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api/chat`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(String(data)));
    ws.send(text);
  });
}

/** An upgrade attempt: the status it was refused with, or 101. */
function upgradeStatus(host: Host): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api/chat`);
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', reject);
  });
}

describe('gateway.close() with enough grace', () => {
  it('answers new requests and upgrades 503, lets in-flight requests and the tunnel finish, then releases', async () => {
    const { upstream, wss, gateway, host, events } = await setup(500);
    const ws = await openTunnel(host);
    const keepAlive = new Agent({ keepAlive: true });
    cleanups.push(() => keepAlive.destroy());
    const inFlight = Array.from({ length: 30 }, (_, i) =>
      get(`${host.url}/api/svc/slow/${i}`, {}, i % 2 ? keepAlive : undefined),
    );
    await waitFor(() => upstream.received.length === 30, 'every slow request reached upstream');

    let closed = false;
    const started = Date.now();
    const closing = gateway.close({ graceMs: 5_000 });
    void closing.then(() => {
      closed = true;
    });
    // Idempotent: the same drain.
    expect(gateway.close()).toBe(closing);

    const refused = await get(`${host.url}/api/svc/new`);
    expect(refused.status).toBe(503);
    expect(refused.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'service_unavailable' });
    expect(await upgradeStatus(host)).toBe(503);
    expect(upstream.received).toHaveLength(30);
    expect(wss.clients.size).toBe(1);

    // In flight: every request ends whole, on the upstream's answer.
    const answers = await Promise.all(inFlight);
    expect(answers.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(answers.map((r) => JSON.parse(r.body).url)).toEqual(
      Array.from({ length: 30 }, (_, i) => `/svc/slow/${i}`),
    );
    // The tunnel still works and still holds the drain open.
    expect(await echo(ws, 'during drain')).toBe('echo:during drain');
    await sleep(100);
    expect(closed).toBe(false);
    ws.close();
    await closing;
    expect(Date.now() - started).toBeLessThan(3_000);
    // Released: the gateway's pooled upstream connections are closed.
    await waitFor(() => upstream.openConnections() === 0, 'upstream connections closed', 1_000);
    expect(wss.clients.size).toBe(0);
    expect(events.filter((e) => e.type === 'proxy.response').map((e) => e.status)).toEqual([
      101,
      ...Array(30).fill(200),
    ]);
  });

  it('resolves at once with nothing in flight, and refuses bad options without closing', async () => {
    const { gateway, host } = await setup(10);
    expect((await get(`${host.url}/api/svc/a`)).status).toBe(200);
    await expect(gateway.close({ graceMs: -1 })).rejects.toThrow(GatewayConfigError);
    // Still serving.
    expect((await get(`${host.url}/api/svc/b`)).status).toBe(200);
    const started = Date.now();
    await gateway.close();
    expect(Date.now() - started).toBeLessThan(500);
    expect((await get(`${host.url}/api/svc/c`)).status).toBe(503);
  });
});

describe('gateway.close() without enough grace', () => {
  it('cuts in-flight requests and the tunnel after graceMs, aborts the upstream requests, and resolves', async () => {
    const { upstream, wss, gateway, host } = await setup(3_000);
    const ws = await openTunnel(host);
    const tunnelClosed = new Promise((resolve) => ws.once('close', resolve));
    const upstreamAborted: boolean[] = [];
    upstream.server.on('request', (_req, res) => {
      res.on('close', () => upstreamAborted.push(!res.writableFinished));
    });
    const inFlight = Array.from({ length: 5 }, (_, i) =>
      get(`${host.url}/api/svc/slow/${i}`).then(
        (res) => `answered ${res.status}`,
        (err: NodeJS.ErrnoException) => err.code ?? err.message,
      ),
    );
    await waitFor(() => upstream.received.length === 5, 'every slow request reached upstream');

    const started = Date.now();
    await gateway.close({ graceMs: 200 });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1_500);
    // The clients were cut, not answered.
    for (const outcome of await Promise.all(inFlight))
      expect(outcome).toMatch(/ECONNRESET|hang up/);
    await tunnelClosed;
    // The upstream requests were aborted (their connections closed before any answer) and the
    // tunnel's upstream side is gone too.
    await waitFor(() => upstreamAborted.length === 5, 'upstream saw every request end', 1_000);
    expect(upstreamAborted).toEqual(Array(5).fill(true));
    await waitFor(() => upstream.openConnections() === 0, 'upstream connections closed', 1_000);
    await waitFor(() => wss.clients.size === 0, 'the tunnel’s upstream side closed', 1_000);
  });

  it('with graceMs 0 cuts at once', async () => {
    const { upstream, gateway, host } = await setup(3_000);
    const pending = get(`${host.url}/api/svc/slow`).then(
      () => 'answered',
      () => 'cut',
    );
    await waitFor(() => upstream.received.length === 1, 'the request reached upstream');
    const started = Date.now();
    await gateway.close({ graceMs: 0 });
    expect(Date.now() - started).toBeLessThan(500);
    expect(await pending).toBe('cut');
  });
});
