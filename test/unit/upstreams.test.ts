import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { describe, expect, it } from 'vitest';
import { createEmitter } from '../../src/events.js';
import { Lease } from '../../src/gateway/registry.js';
import type { UpstreamTarget } from '../../src/route/targets.js';
import { Upstreams } from '../../src/route/upstreams.js';
import { parseRouteOptions } from '../../src/schema/route.js';
import type { GatewayEvent } from '../../src/types.js';

const resolve = (options: Record<string, unknown>) =>
  parseRouteOptions({ path: '/x', ...options }).value;

describe('Upstreams', () => {
  it('gives each target of each route a keep-alive agent of its own and destroys them on close', async () => {
    const upstreams = new Upstreams(createEmitter(undefined));
    const a = upstreams.forRoute(resolve({ target: ['http://a:1', 'https://b:2'] }));
    const b = upstreams.forRoute(resolve({ target: 'http://c:3' }));
    const [httpTarget, httpsTarget] = a.pool.targets as [UpstreamTarget, UpstreamTarget];
    const httpAgent = a.agentFor(httpTarget);
    const httpsAgent = a.agentFor(httpsTarget);
    expect(httpAgent).toBeInstanceOf(HttpAgent);
    expect(httpsAgent).toBeInstanceOf(HttpsAgent);
    expect(httpAgent).not.toBe(httpsAgent);
    expect(b.agentFor(b.pool.targets[0] as UpstreamTarget)).not.toBe(httpAgent);
    // Tunnels get connections of their own; http-proxy-middleware takes one agent, none for a mix.
    expect(a.tunnelAgent).toBe(false);
    expect(a.sharedAgent).toBeUndefined();
    expect(b.sharedAgent).toBe(b.agentFor(b.pool.targets[0] as UpstreamTarget));
    // Two owners never share a send queue.
    expect(new Upstreams(createEmitter(undefined)).queue).not.toBe(upstreams.queue);

    const destroyed: unknown[] = [];
    for (const agent of [httpAgent, httpsAgent]) {
      const original = agent.destroy.bind(agent);
      agent.destroy = () => {
        destroyed.push(agent);
        original();
      };
    }
    await upstreams.close();
    expect(destroyed).toEqual([httpAgent, httpsAgent]);
  });

  it('uses the route’s proxy.agent for everything and never destroys it', async () => {
    const mine = new HttpAgent({ keepAlive: true });
    let destroyed = false;
    mine.destroy = () => {
      destroyed = true;
    };
    const upstreams = new Upstreams(createEmitter(undefined));
    const route = upstreams.forRoute(
      resolve({ target: ['http://a:1', 'https://b:2'], proxy: { agent: mine } }),
    );
    for (const target of route.pool.targets) expect(route.agentFor(target)).toBe(mine);
    expect(route.tunnelAgent).toBe(mine);
    expect(route.sharedAgent).toBe(mine);
    await upstreams.close();
    expect(destroyed).toBe(false);
  });

  it('reports target.health with the route’s name, else its path, only when someone listens', () => {
    const events: GatewayEvent[] = [];
    const upstreams = new Upstreams(createEmitter((e) => events.push(e)));
    const named = upstreams.forRoute(
      resolve({ name: 'search', target: ['http://u:p@a:1', 'http://b:2'] }),
    );
    named.pool.markDown(named.pool.targets[0] as UpstreamTarget, 'timeout');
    const unnamed = upstreams.forRoute(resolve({ target: ['http://a:1', 'http://b:2'] }));
    unnamed.pool.markDown(unnamed.pool.targets[1] as UpstreamTarget, 'connect_failed');
    expect(events).toEqual([
      {
        type: 'target.health',
        route: 'search',
        target: 'http://a:1',
        healthy: false,
        reason: 'timeout',
      },
      {
        type: 'target.health',
        route: '/x',
        target: 'http://b:2',
        healthy: false,
        reason: 'connect_failed',
      },
    ]);
  });
});

describe('Upstreams across configurations', () => {
  it('keeps a route’s target (health and agent) while a lease holds it, by route name else path, and URL', async () => {
    const upstreams = new Upstreams(createEmitter(undefined));
    const v1 = new Lease();
    const v2 = new Lease();
    const first = upstreams.forRoute(
      resolve({ name: 'svc', target: ['http://a:1', 'http://b:2'] }),
      v1,
    );
    const [a1, b1] = first.pool.targets as [UpstreamTarget, UpstreamTarget];
    first.pool.markDown(b1, 'connect_failed');
    // The same route (by name) in the next configuration: a kept, b still down, c new.
    const second = upstreams.forRoute(
      resolve({ name: 'svc', path: '/moved', target: ['http://a:1', 'http://b:2', 'http://c:3'] }),
      v2,
    );
    const [a2, b2, c2] = second.pool.targets as [UpstreamTarget, UpstreamTarget, UpstreamTarget];
    expect(a2).toBe(a1);
    expect(b2).toBe(b1);
    expect(b2.downUntil).toBeGreaterThan(0);
    expect(second.agentFor(a2)).toBe(first.agentFor(a1));
    expect(c2.agent).toBeInstanceOf(HttpAgent);
    // Another route with the same URL has a target (and an agent) of its own.
    const other = upstreams.forRoute(resolve({ path: '/other', target: 'http://a:1' }), v2);
    expect(other.pool.targets[0]).not.toBe(a1);
    expect(other.agentFor(other.pool.targets[0] as UpstreamTarget)).not.toBe(first.agentFor(a1));

    // Targets only the first configuration used are released with its lease.
    const destroyed: string[] = [];
    for (const target of [a1, b1, c2]) {
      const agent = target.agent as HttpAgent;
      const original = agent.destroy.bind(agent);
      agent.destroy = () => {
        destroyed.push(target.display);
        original();
      };
    }
    expect(upstreams.size).toBe(4);
    v1.release();
    expect(destroyed).toEqual([]);
    const third = upstreams.forRoute(resolve({ name: 'svc', target: 'http://c:3' }), new Lease());
    expect(third.pool.targets[0]).toBe(c2);
    v2.release();
    expect(destroyed).toEqual(['http://a:1', 'http://b:2']);
    await upstreams.close();
    expect(destroyed).toEqual(['http://a:1', 'http://b:2', 'http://c:3']);
  });

  it('keeps weights and balancing per pool: a weight change applies to the new pool only', () => {
    const upstreams = new Upstreams(createEmitter(undefined));
    const old = upstreams.forRoute(
      resolve({ name: 'w', target: [{ url: 'http://a:1', weight: 3 }, 'http://b:2'] }),
      new Lease(),
    );
    const now = upstreams.forRoute(
      resolve({ name: 'w', target: ['http://a:1', { url: 'http://b:2', weight: 3 }] }),
      new Lease(),
    );
    const hosts = (route: typeof old) =>
      Array.from({ length: 4 }, () => route.pool.pick()?.url.hostname).join('');
    expect(hosts(old)).toBe('aaba');
    expect(hosts(now)).toBe('babb');
  });
});
