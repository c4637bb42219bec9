// gateway.update(): a real Express host (4 and 5), real upstreams that say which configuration
// they belong to (A answers `v1`, B `v2`) and echo what the gateway told them (the route's
// `x-config` header, the consumer), under concurrent load across repeated updates.
import { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  createGateway,
  type Gateway,
  type GatewayConfig,
  GatewayConfigError,
  type GatewayEvent,
  handleUpgrades,
  MemoryStore,
} from '../../src/index.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import {
  type ClientResponse,
  get,
  startTaggedUpstream,
  type TaggedAnswer,
  type TaggedUpstream,
} from '../helpers/tagged-upstream.js';
import { closedPort } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait-for.js';

const KEY = 'shared-key-0123456789abcdef';

/** Everything a test opened, closed after it. */
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstreams(): Promise<[TaggedUpstream, TaggedUpstream]> {
  const a = await startTaggedUpstream('v1');
  const b = await startTaggedUpstream('v2');
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  return [a, b];
}

async function mount(gateway: Gateway, major: 4 | 5 = 5): Promise<Host> {
  const host = await startHost((app) => {
    app.use('/api', gateway);
    app.use((_req: unknown, res: { status(n: number): { send(b: string): void } }) =>
      res.status(404).send('host 404'),
    );
  }, major);
  cleanups.push(
    () => gateway.close({ graceMs: 0 }),
    () => host.close(),
  );
  return host;
}

const tagged = (tag: string) => ({ request: { set: { 'x-config': tag } } });

function answerOf(res: ClientResponse): TaggedAnswer {
  return JSON.parse(res.body) as TaggedAnswer;
}

describe.each(EXPRESS_MAJORS)('gateway.update() under load on Express %i', (major) => {
  it('serves hundreds of concurrent requests across repeated updates: none fails, none mixes two configurations', async () => {
    const [a, b] = await upstreams();
    const events: GatewayEvent[] = [];
    const onEvent = (event: GatewayEvent) => {
      if (event.type.startsWith('config.')) events.push(event);
    };
    // v1: /svc needs a key (consumer-v1), /old exists, /new does not; policy-v1; target A.
    const v1: GatewayConfig = {
      auth: { apiKey: { keys: [{ id: 'consumer-v1', key: KEY }] } },
      rateLimit: { limit: 1_000_000, window: '1m', name: 'policy-v1' },
      fallthrough: false,
      routes: [
        { name: 'svc', path: '/svc{/*p}', target: a.url, headers: tagged('v1') },
        {
          name: 'old',
          path: '/old{/*p}',
          target: a.url,
          auth: false,
          rateLimit: false,
          headers: tagged('v1'),
        },
      ],
      onEvent,
    };
    // v2: routes reordered, /old removed, /new added, /svc retargeted to B with optional auth
    // (the same key is consumer-v2), policy-v2.
    const v2: GatewayConfig = {
      auth: { apiKey: { keys: [{ id: 'consumer-v2', key: KEY }] } },
      rateLimit: { limit: 1_000_000, window: '1m', name: 'policy-v2' },
      fallthrough: false,
      routes: [
        {
          name: 'new',
          path: '/new{/*p}',
          target: b.url,
          auth: false,
          rateLimit: false,
          headers: tagged('v2'),
        },
        { name: 'svc', path: '/svc{/*p}', target: b.url, auth: 'optional', headers: tagged('v2') },
      ],
      onEvent,
    };
    const gateway = createGateway(v1);
    const host = await mount(gateway, major);
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 32 });
    const oneShot = new Agent({ keepAlive: false });
    cleanups.push(() => keepAlive.destroy());

    type Kind = 'svc-key' | 'svc-anonymous' | 'old' | 'new';
    const kinds: Kind[] = ['svc-key', 'svc-key', 'svc-anonymous', 'old', 'new'];
    const served = { v1: 0, v2: 0 };
    const problems: string[] = [];
    /** Which configuration gave this response, or why it fits neither as a whole. */
    const judge = (kind: Kind, res: ClientResponse): 'v1' | 'v2' | string => {
      const policy = String(res.headers['ratelimit-policy'] ?? '');
      if (kind === 'svc-key') {
        if (res.status !== 200) return 'not 200';
        const answer = answerOf(res);
        const tag = answer.upstream;
        if (answer.config !== tag) return 'route of one config, target of the other';
        if (answer.consumer !== `consumer-${tag}`) return 'consumer of the other config';
        if (!policy.startsWith(`"policy-${tag}"`)) return 'policy of the other config';
        return tag;
      }
      if (kind === 'svc-anonymous') {
        // v1's answer: refused before any limit.
        if (res.status === 401) return policy === '' ? 'v1' : '401 with a rate limit policy';
        if (res.status !== 200) return 'neither 401 (v1) nor 200 (v2)';
        const answer = answerOf(res);
        if (answer.upstream !== 'v2' || answer.config !== 'v2') return 'anonymous reached v1';
        if (answer.consumer !== null) return 'anonymous with a consumer';
        if (!policy.startsWith('"policy-v2"')) return 'policy of v1';
        return 'v2';
      }
      const owner = kind === 'old' ? 'v1' : 'v2';
      if (res.status === 404) {
        if (!res.body.includes('"not_found"')) return 'a 404 that is not the gateway’s';
        return owner === 'v1' ? 'v2' : 'v1';
      }
      if (res.status !== 200) return 'neither 200 nor 404';
      const answer = answerOf(res);
      if (answer.upstream !== owner || answer.config !== owner) return 'wrong config';
      return owner;
    };
    const record = (kind: Kind, res: ClientResponse): void => {
      const verdict = judge(kind, res);
      if (verdict === 'v1' || verdict === 'v2') served[verdict]++;
      else problems.push(`${kind}: ${verdict} (${res.status} ${res.body})`);
    };

    let updating = true;
    let updates = 0;
    const updater = (async () => {
      while (updating) {
        await gateway.update(updates % 2 === 0 ? v2 : v1);
        updates++;
        await sleep(15);
      }
    })();
    const total = 600;
    let sent = 0;
    const worker = async (w: number): Promise<void> => {
      while (sent < total) {
        const i = sent++;
        const kind = kinds[i % kinds.length] as Kind;
        const path =
          kind === 'old' ? '/old/x' : kind === 'new' ? '/new/x' : `/svc/item/${i % 7}?i=${i}`;
        const headers: Record<string, string> = kind === 'svc-key' ? { 'x-api-key': KEY } : {};
        record(kind, await get(`${host.url}/api${path}`, headers, w % 2 ? keepAlive : oneShot));
      }
    };
    await Promise.all(Array.from({ length: 48 }, (_, w) => worker(w)));
    updating = false;
    await updater;

    expect(problems).toEqual([]);
    expect(updates).toBeGreaterThanOrEqual(8);
    // Both configurations really served a good share of the load.
    expect(served.v1 + served.v2).toBe(total);
    expect(served.v1).toBeGreaterThan(50);
    expect(served.v2).toBeGreaterThan(50);
    // The initial configuration announced as version 1, then one config.updated per update.
    expect(events.map((e) => (e.type === 'config.updated' ? e.version : e.type))).toEqual(
      Array.from({ length: updates + 1 }, (_, i) => i + 1),
    );
    const hashes = new Set(events.map((e) => (e.type === 'config.updated' ? e.hash : '')));
    expect(hashes.size).toBe(2);
  });
});

describe('gateway.update(): what carries over and what is released', () => {
  it('lets a slow request finish on the old configuration, and releases its agent only after it', async () => {
    const [a, b] = await upstreams();
    const route = (target: string, tag: string): GatewayConfig => ({
      routes: [{ name: 'svc', path: '/svc{/*p}', target, headers: tagged(tag) }],
    });
    const gateway = createGateway(route(a.url, 'v1'));
    const host = await mount(gateway);
    const slow = get(`${host.url}/api/svc/slow`);
    await waitFor(() => a.received.length === 1, 'the slow request reached A');
    await gateway.update(route(b.url, 'v2'));
    // New requests run on v2 at once, while the slow one is still on v1.
    const fresh = await get(`${host.url}/api/svc/fast`);
    expect(answerOf(fresh)).toMatchObject({ upstream: 'v2', config: 'v2', url: '/svc/fast' });
    await sleep(300);
    expect(a.openConnections()).toBe(1);
    const late = await slow;
    const endedAt = Date.now();
    expect(late.status).toBe(200);
    expect(answerOf(late)).toMatchObject({ upstream: 'v1', config: 'v1', url: '/svc/slow' });
    // v1's last request is over: its agent (A's keep-alive connection) goes now, not after the
    // 4 s an idle pooled connection would otherwise stay.
    await waitFor(() => a.openConnections() === 0, 'A’s connection closed', 1_500);
    expect(Date.now() - endedAt).toBeLessThan(1_500);
    expect(a.received).toHaveLength(1);
    // B's pooled connection is v2's and stays.
    expect(b.openConnections()).toBe(1);
  });

  it('counts an open WebSocket tunnel as in flight: the old configuration is released when it closes', async () => {
    const [a] = await upstreams();
    const wsUpstream = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => wsUpstream.once('listening', resolve));
    wsUpstream.on('connection', (socket) => socket.on('message', (d) => socket.send(`echo:${d}`)));
    cleanups.push(() => new Promise((resolve) => wsUpstream.close(resolve)));
    const wsTarget = `http://127.0.0.1:${(wsUpstream.address() as { port: number }).port}`;
    const v1: GatewayConfig = {
      routes: [
        { name: 'svc', path: '/svc', target: a.url, headers: tagged('v1') },
        { name: 'chat', path: '/chat', target: wsTarget, websocket: true },
      ],
    };
    const gateway = createGateway(v1);
    const host = await mount(gateway);
    cleanups.push(handleUpgrades(host.server, host.app));
    expect(answerOf(await get(`${host.url}/api/svc`))).toMatchObject({ config: 'v1' });
    expect(a.openConnections()).toBe(1);
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/api/chat`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    // v2 has neither route: only the tunnel keeps v1 (and A's pooled connection) alive.
    await gateway.update({ routes: [{ path: '/other', target: a.url }] });
    expect((await get(`${host.url}/api/svc`)).status).toBe(404);
    await sleep(300);
    expect(a.openConnections()).toBe(1);
    ws.send('still there');
    const echoed = await new Promise((resolve) => ws.once('message', (d) => resolve(String(d))));
    expect(echoed).toBe('echo:still there');
    const closedAt = Date.now();
    ws.close();
    await waitFor(() => a.openConnections() === 0, 'A’s connection closed', 2_000);
    expect(Date.now() - closedAt).toBeLessThan(2_000);
  });

  it('keeps the counters of a policy with the same name on the same store; a renamed policy starts afresh', async () => {
    const [a, b] = await upstreams();
    const config = (target: string, name: string): GatewayConfig => ({
      rateLimit: { limit: 5, window: '1m', name },
      routes: [{ name: 'svc', path: '/svc', target }],
    });
    const gateway = createGateway(config(a.url, 'budget'));
    const host = await mount(gateway);
    const remaining = async () => {
      const res = await get(`${host.url}/api/svc`);
      return res.status === 429 ? 'refused' : /r=(\d+)/.exec(String(res.headers.ratelimit))?.[1];
    };
    expect([await remaining(), await remaining(), await remaining()]).toEqual(['4', '3', '2']);
    // Retargeted, same policy name: the budget goes on.
    await gateway.update(config(b.url, 'budget'));
    expect([await remaining(), await remaining(), await remaining()]).toEqual([
      '1',
      '0',
      'refused',
    ]);
    expect(b.received).toHaveLength(2);
    // Renamed: a fresh budget.
    await gateway.update(config(b.url, 'budget-2'));
    expect(await remaining()).toBe('4');
    // The gateway's own MemoryStore was kept all along: the first policy is still spent.
    await gateway.update(config(a.url, 'budget'));
    expect(await remaining()).toBe('refused');
    expect(a.received).toHaveLength(3);
  });

  it('keeps the passive health of a target still on the same route; another route starts afresh', async () => {
    const [a] = await upstreams();
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const events: GatewayEvent[] = [];
    const config = (name: string, tag: string): GatewayConfig => ({
      routes: [
        { name, path: '/lb', target: [a.url, dead], retries: 1, headers: tagged(tag) },
        { path: '/other', target: a.url },
      ],
      onEvent: (event) => {
        if (event.type === 'proxy.error' || event.type === 'target.health') events.push(event);
      },
    });
    const gateway = createGateway(config('lb', 'v1'));
    const host = await mount(gateway);
    // Round robin: A, then the dead target (refused, marked down, retried on A).
    for (let i = 0; i < 2; i++) expect((await get(`${host.url}/api/lb`)).status).toBe(200);
    expect(events.map((e) => e.type)).toEqual(['target.health', 'proxy.error']);
    await gateway.update(config('lb', 'v2'));
    for (let i = 0; i < 6; i++) {
      const res = await get(`${host.url}/api/lb`);
      expect(answerOf(res)).toMatchObject({ upstream: 'v1', config: 'v2' });
    }
    // Still marked down: the new configuration never tried it.
    expect(events).toHaveLength(2);
    // A route of another name is another owner: its health starts afresh.
    await gateway.update(config('lb-renamed', 'v3'));
    for (let i = 0; i < 2; i++) expect((await get(`${host.url}/api/lb`)).status).toBe(200);
    expect(events.filter((e) => e.type === 'proxy.error')).toHaveLength(2);
    expect(events.at(-1)).toMatchObject({ type: 'proxy.error', route: 'lb-renamed', target: dead });
  });

  it('reuses the keep-alive connection to a target that stays on its route across updates', async () => {
    const [a, b] = await upstreams();
    const config = (tag: string, other: string): GatewayConfig => ({
      routes: [
        { name: 'svc', path: '/svc', target: a.url, headers: tagged(tag) },
        { name: 'other', path: '/other', target: other },
      ],
    });
    const gateway = createGateway(config('v1', a.url));
    const host = await mount(gateway);
    for (let version = 2; version <= 6; version++) {
      expect(answerOf(await get(`${host.url}/api/svc`)).config).toBe(`v${version - 1}`);
      await gateway.update(config(`v${version}`, version % 2 ? a.url : b.url));
    }
    expect(answerOf(await get(`${host.url}/api/svc`)).config).toBe('v6');
    expect(a.received).toHaveLength(6);
    // Six requests over five updates, one connection.
    expect(a.sockets).toHaveLength(1);
    expect(b.sockets).toHaveLength(0);
  });

  it('rejects an invalid configuration: config.rejected, the old one serves as before, nothing of the new one left open', async () => {
    const [a] = await upstreams();
    const stranger = await startTaggedUpstream('stranger');
    cleanups.push(() => stranger.close());
    const events: GatewayEvent[] = [];
    const store = new MemoryStore();
    cleanups.push(() => store.close());
    const v1: GatewayConfig = {
      store,
      rateLimit: { limit: 5, window: '1m', name: 'p' },
      routes: [{ name: 'svc', path: '/svc', target: a.url, headers: tagged('v1') }],
      onEvent: (event) => events.push(event),
    };
    const gateway = createGateway(v1);
    const host = await mount(gateway);
    const first = await get(`${host.url}/api/svc`);
    expect(first.headers.ratelimit).toBe('"p";r=4;t=12');
    const timers = () =>
      process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;
    const timersBefore = timers();
    const secret = 'never-shown-secret-key-0123456789';
    let rejectedEvents = 0;
    const bad: GatewayConfig = {
      // No store: the gateway's own MemoryStore (and its sweep timer) would be made for it.
      auth: { apiKey: { keys: [{ id: 'x', key: secret }] } },
      rateLimit: { limit: 1, window: '1s', name: 'p' },
      routes: [
        { name: 'svc', path: '/svc', target: stranger.url },
        { path: '/bad', target: 'nope' },
      ],
      onEvent: () => {
        rejectedEvents++;
      },
    };
    const error = await gateway.update(bad).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(GatewayConfigError);
    expect((error as Error).message).toMatch(/^routes\[1\]\.target: /);
    // Reported through the serving configuration's hook; the rejected one's never ran.
    expect(events.filter((e) => e.type === 'config.rejected')).toEqual([
      { type: 'config.rejected', error: (error as Error).message },
    ]);
    // Nothing was applied after the initial configuration (version 1).
    expect(events.flatMap((e) => (e.type === 'config.updated' ? [e.version] : []))).toEqual([1]);
    expect(rejectedEvents).toBe(0);
    expect(JSON.stringify(events)).not.toContain(secret);
    // Nothing of it stayed open (no store timer), nothing reached its target.
    expect(timers()).toBe(timersBefore);
    // The old configuration serves as before, its counters untouched.
    const after = await get(`${host.url}/api/svc`);
    expect(answerOf(after)).toMatchObject({ upstream: 'v1', config: 'v1' });
    expect(String(after.headers.ratelimit)).toMatch(/^"p";r=3;/);
    expect(stranger.received).toHaveLength(0);
    expect(a.received).toHaveLength(2);
  });

  it('applies concurrent updates in call order, and rejects update() once closed', async () => {
    const [a, b] = await upstreams();
    const versions: number[] = [];
    const config = (target: string, tag: string): GatewayConfig => ({
      routes: [{ path: '/svc', target, headers: tagged(tag) }],
      onEvent: (event) => {
        if (event.type === 'config.updated') versions.push(event.version);
      },
    });
    const gateway = createGateway(config(a.url, 'v1'));
    const host = await mount(gateway);
    const results = await Promise.allSettled([
      gateway.update(config(b.url, 'v2')),
      gateway.update({ routes: [] }),
      gateway.update(config(a.url, 'v3')),
      gateway.update(config(b.url, 'v4')),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect(versions).toEqual([1, 2, 3, 4]);
    expect(answerOf(await get(`${host.url}/api/svc`))).toMatchObject({
      upstream: 'v2',
      config: 'v4',
    });
    await gateway.close();
    await expect(gateway.update(config(a.url, 'v5'))).rejects.toThrow(/closed/);
    expect(versions).toEqual([1, 2, 3, 4]);
  });

  it('gives the same hash for the same data whatever the key order, another for other data', async () => {
    const [a] = await upstreams();
    const hashes: string[] = [];
    const onEvent = (event: GatewayEvent) => {
      if (event.type === 'config.updated') hashes.push(event.hash);
    };
    const gateway = createGateway({ routes: [{ path: '/x', target: a.url }], onEvent });
    await mount(gateway);
    await gateway.update({ routes: [{ path: '/x', target: a.url, methods: ['GET'] }], onEvent });
    await gateway.update({ onEvent, routes: [{ methods: ['GET'], target: a.url, path: '/x' }] });
    await gateway.update({ routes: [{ path: '/y', target: a.url }], onEvent });
    // hashes[0] is the initial configuration's (version 1).
    expect(hashes).toHaveLength(4);
    expect(hashes[1]).toMatch(/^[0-9a-f]{16}$/);
    expect(hashes[1]).not.toBe(hashes[0]);
    expect(hashes[2]).toBe(hashes[1]);
    expect(hashes[3]).not.toBe(hashes[1]);
  });
});

describe('gateway.update(): the JWKS cache of the same jwksUri', () => {
  it('is kept across updates and released with the last configuration that used it', async () => {
    const { exportJWK, generateKeyPair, SignJWT } = await import('jose');
    const { startJwksServer } = await import('../helpers/jwks-server.js');
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = await startJwksServer([jwk]);
    cleanups.push(() => jwks.close());
    const token = await new SignJWT({ sub: 'jwt-user' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(privateKey);
    const [a] = await upstreams();
    const withJwt = (path: string): GatewayConfig => ({
      auth: { jwt: { algorithms: ['RS256'], jwksUri: jwks.uri } },
      routes: [{ path, target: a.url }],
    });
    const gateway = createGateway(withJwt('/one'));
    const host = await mount(gateway);
    const call = (path: string) =>
      get(`${host.url}/api${path}`, { authorization: `Bearer ${token}` });
    expect((await call('/one')).status).toBe(200);
    expect(jwks.fetches).toBe(1);
    await gateway.update(withJwt('/two'));
    expect((await call('/two')).status).toBe(200);
    // A rejected configuration with the same URI leaves the cache as it was.
    await expect(
      gateway.update({ ...withJwt('/three'), routes: [{ path: '/x', target: 'nope' }] }),
    ).rejects.toThrow(GatewayConfigError);
    expect((await call('/two')).status).toBe(200);
    expect(jwks.fetches).toBe(1);
    expect(answerOf(await call('/two')).consumer).toBe('jwt-user');
    // A configuration without it: once the last one using it has no request in flight, the
    // cache goes; a later configuration fetches the keys again.
    await gateway.update({ routes: [{ path: '/plain', target: a.url }] });
    await sleep(20);
    await gateway.update(withJwt('/four'));
    expect((await call('/four')).status).toBe(200);
    expect(jwks.fetches).toBe(2);
  });
});
