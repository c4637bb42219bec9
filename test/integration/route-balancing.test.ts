import { Agent, createServer, request, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { type Host, startHost } from '../helpers/host.js';
import { routeCollector } from '../helpers/route-set.js';
import { closedPort, closeServer, startUpstream, type Upstream } from '../helpers/upstream.js';

const agent = new Agent({ keepAlive: true, maxSockets: 50 });

/** A GET over a keep-alive agent (much lighter than fetch for a thousand requests). */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    })
      .on('error', reject)
      .end();
  });
}

describe('route() balancing, passive health and retries', () => {
  const upstreams: Upstream[] = [];
  const middlewares: GatewayMiddleware[] = [];
  let host: Host;
  let a: Upstream;
  let b: Upstream;
  let c: Upstream;
  let resetter: Upstream;
  let slow: Upstream;
  const events: GatewayEvent[] = [];
  let deadPort: number;
  let deadPort2: number;
  let revivePort: number;
  let flaky: NetServer;
  const flakyLog: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 5; i++) upstreams.push(await startUpstream());
    [a, b, c, resetter, slow] = upstreams as [Upstream, Upstream, Upstream, Upstream, Upstream];
    slow.handle((_req, res) => {
      setTimeout(() => res.end('late'), 1_000).unref();
    });
    resetter.handle((req) => req.socket.destroy());
    deadPort = await closedPort();
    deadPort2 = await closedPort();
    revivePort = await closedPort();
    // Answers the first request of each connection with keep-alive, then drops the connection
    // when a second request arrives on it: a pooled socket the upstream has closed.
    flaky = createNetServer((socket) => {
      let n = 0;
      socket.on('error', () => {});
      socket.on('data', (d) => {
        n++;
        const line = d.toString('latin1').split('\r\n')[0] ?? '';
        flakyLog.push(`${n} ${line}`);
        if (n === 1)
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
        else socket.destroy();
      });
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const flakyAddress = flaky.address();
    const flakyPort =
      typeof flakyAddress === 'object' && flakyAddress !== null ? flakyAddress.port : 0;
    const add = routeCollector(events, middlewares);
    host = await startHost((app) => {
      app.use(
        add({
          path: '/weighted',
          target: [
            { url: a.url, weight: 1 },
            { url: b.url, weight: 2 },
            { url: c.url, weight: 7 },
          ],
        }),
      );
      app.use(add({ path: '/revive', target: [a.url, `http://127.0.0.1:${revivePort}`] }));
      app.use(add({ path: '/retry', target: [`http://127.0.0.1:${deadPort}`, b.url], retries: 1 }));
      app.use(
        add({
          path: '/all-down',
          target: [`http://127.0.0.1:${deadPort}`, `http://127.0.0.1:${deadPort2}`],
        }),
      );
      app.use(add({ path: '/reset', target: [resetter.url, c.url], retries: 3 }));
      app.use(add({ path: '/slow-pair', target: [slow.url, c.url], timeout: '200ms' }));
      app.use(add({ path: '/flaky', target: `http://127.0.0.1:${flakyPort}` }));
    });
  });

  afterAll(async () => {
    vi.useRealTimers();
    agent.destroy();
    await Promise.all(middlewares.map((m) => m.close()));
    await host.close();
    await Promise.all(upstreams.map((u) => u.close()));
    await new Promise((r) => flaky.close(r));
  });

  afterEach(() => {
    vi.useRealTimers();
    for (const u of upstreams) u.received.length = 0;
    events.length = 0;
  });

  it('spreads 1,000 requests by weight within ±5%', async () => {
    for (let i = 0; i < 1000; i += 50) {
      const statuses = await Promise.all(
        Array.from({ length: 50 }, () => get(`${host.url}/weighted`)),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);
    }
    const shares = [a, b, c].map((u) => u.received.length / 1000);
    expect(shares[0]).toBeGreaterThanOrEqual(0.05);
    expect(shares[0]).toBeLessThanOrEqual(0.15);
    expect(shares[1]).toBeGreaterThanOrEqual(0.15);
    expect(shares[1]).toBeLessThanOrEqual(0.25);
    expect(shares[2]).toBeGreaterThanOrEqual(0.65);
    expect(shares[2]).toBeLessThanOrEqual(0.75);
  });

  it('skips a target that refused a connection, then tries it again after the cooldown', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${host.url}/revive`)).status);
    // One request met the dead target (502, no retries); the others all went to the live one.
    expect(statuses.filter((s) => s === 502)).toHaveLength(1);
    expect(a.received).toHaveLength(5);
    // The target comes back; after the 10 s cooldown it gets its share again.
    const revived: string[] = [];
    const server: Server = createServer((req, res) => {
      revived.push(req.url ?? '');
      res.end('revived');
    });
    await new Promise<void>((resolve) => server.listen(revivePort, '127.0.0.1', resolve));
    try {
      for (let i = 0; i < 4; i++) expect((await fetch(`${host.url}/revive`)).status).toBe(200);
      expect(revived).toHaveLength(0);
      vi.setSystemTime(Date.now() + 10_001);
      for (let i = 0; i < 4; i++) expect((await fetch(`${host.url}/revive`)).status).toBe(200);
      expect(revived).toEqual(['/revive', '/revive']);
      // Each transition was reported once, with the target as configured.
      expect(events.filter((e) => e.type === 'target.health')).toEqual([
        {
          type: 'target.health',
          route: '/revive',
          target: `http://127.0.0.1:${revivePort}`,
          healthy: false,
          reason: 'connect_failed',
        },
        {
          type: 'target.health',
          route: '/revive',
          target: `http://127.0.0.1:${revivePort}`,
          healthy: true,
          reason: 'cooldown_elapsed',
        },
      ]);
    } finally {
      await closeServer(server);
    }
  });

  it('answers 503 with Retry-After when every target is down', async () => {
    expect((await fetch(`${host.url}/all-down`)).status).toBe(502);
    expect((await fetch(`${host.url}/all-down`)).status).toBe(502);
    const res = await fetch(`${host.url}/all-down`);
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { code: string }).code).toBe('service_unavailable');
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(events.filter((e) => e.type === 'proxy.error').map((e) => e.status)).toEqual([
      502, 502, 503,
    ]);
  });

  it('retries an idempotent request on the next target after a connect failure', async () => {
    const res = await fetch(`${host.url}/retry?first`);
    expect(res.status).toBe(200);
    expect(b.received.map((r) => r.url)).toEqual(['/retry?first']);
    // One event per attempt: the refused one, then the one that answered.
    expect(events.filter((e) => e.type.startsWith('proxy.'))).toEqual([
      expect.objectContaining({
        type: 'proxy.error',
        attempt: 1,
        target: `http://127.0.0.1:${deadPort}`,
        status: 502,
        code: 'bad_gateway',
        error: 'ECONNREFUSED',
      }),
      expect.objectContaining({ type: 'proxy.response', attempt: 2, target: b.url, status: 200 }),
    ]);
  });

  it('never retries a POST, even after a connect failure', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60_000); // the dead target's cooldown from earlier tests is over
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      statuses.push((await fetch(`${host.url}/retry`, { method: 'POST', body: 'x' })).status);
    }
    // The request that met the dead target failed; the one that went to b was not a repeat.
    expect(statuses.sort()).toEqual([200, 502]);
    expect(b.received).toHaveLength(1);
  });

  it('does not repeat a request the upstream received (reset after sending): POST or GET', async () => {
    const post = await fetch(`${host.url}/reset`, { method: 'POST', body: 'once' });
    expect(post.status).toBe(502);
    expect(resetter.received).toHaveLength(1);
    expect(c.received).toHaveLength(0);
  });

  it('skips a target that left a request unanswered past timeout (504)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push(await get(`${host.url}/slow-pair`));
    expect(statuses).toEqual([504, 200, 200, 200, 200]);
    expect(slow.received).toHaveLength(1);
    expect(c.received).toHaveLength(4);
  });

  it('sends an idempotent request again once when its pooled connection was closed by the upstream', async () => {
    flakyLog.length = 0;
    expect(await get(`${host.url}/flaky`)).toBe(200);
    expect(await get(`${host.url}/flaky`)).toBe(200);
    // Second request: sent on the pooled connection (dropped), then on a fresh one.
    expect(flakyLog).toEqual([
      '1 GET /flaky HTTP/1.1',
      '2 GET /flaky HTTP/1.1',
      '1 GET /flaky HTTP/1.1',
    ]);
    const post = await new Promise<number>((resolve, reject) => {
      request(`${host.url}/flaky`, { method: 'POST', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
        .on('error', reject)
        .end('x');
    });
    // A POST is never sent twice: the one that met the dropped connection fails.
    expect(post).toBe(502);
    expect(flakyLog.filter((l) => l.includes('POST'))).toHaveLength(1);
  });
});
