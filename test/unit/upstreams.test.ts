import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { describe, expect, it } from 'vitest';
import { createEmitter } from '../../src/events.js';
import type { UpstreamTarget } from '../../src/route/targets.js';
import { Upstreams } from '../../src/route/upstreams.js';
import { parseRouteOptions } from '../../src/schema/route.js';
import type { GatewayEvent } from '../../src/types.js';

const resolve = (options: Record<string, unknown>) =>
  parseRouteOptions({ path: '/x', ...options }).value;

describe('Upstreams', () => {
  it('gives each route keep-alive agents of its own, by protocol, and destroys them on close', async () => {
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
