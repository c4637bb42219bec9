import { describe, expect, it } from 'vitest';
import { type HealthReason, TargetPool, type UpstreamTarget } from '../../src/route/targets.js';
import type { ResolvedTarget } from '../../src/schema/route.js';

function targets(...weights: number[]): ResolvedTarget[] {
  return weights.map((weight, i) => ({
    url: new URL(`http://10.0.0.${i + 1}:8080`),
    weight,
  }));
}

function counts(pool: TargetPool, n: number): number[] {
  const seen = new Map<UpstreamTarget, number>();
  for (let i = 0; i < n; i++) {
    const t = pool.pick();
    if (t) seen.set(t, (seen.get(t) ?? 0) + 1);
  }
  return pool.targets.map((t) => seen.get(t) ?? 0);
}

describe('TargetPool', () => {
  it('spreads requests by weight, smoothly (no bursts to the heavy target)', () => {
    const pool = new TargetPool(targets(5, 1, 1));
    const order = Array.from({ length: 7 }, () => pool.pick()?.url.hostname);
    // nginx's smooth weighted round robin: a a b a c a a
    expect(order).toEqual([
      '10.0.0.1',
      '10.0.0.1',
      '10.0.0.2',
      '10.0.0.1',
      '10.0.0.3',
      '10.0.0.1',
      '10.0.0.1',
    ]);
    expect(counts(pool, 7000)).toEqual([5000, 1000, 1000]);
  });

  it('skips a target marked down until its cooldown is over, then tries it again', () => {
    let now = 1_000;
    const pool = new TargetPool(targets(1, 1), { cooldownMs: 10_000, now: () => now });
    const [a, b] = pool.targets as [UpstreamTarget, UpstreamTarget];
    pool.markDown(a, 'connect_failed');
    expect(counts(pool, 10)).toEqual([0, 10]);
    expect(pool.retryAfterSeconds()).toBe(10);
    now += 9_999;
    expect(pool.pick()).toBe(b);
    now += 1;
    expect(counts(pool, 10)).toEqual([5, 5]);
  });

  it('returns null when every target is down, with the time until the first comes back', () => {
    let now = 0;
    const pool = new TargetPool(targets(1, 2), { cooldownMs: 10_000, now: () => now });
    const [a, b] = pool.targets as [UpstreamTarget, UpstreamTarget];
    pool.markDown(a, 'connect_failed');
    now = 4_000;
    pool.markDown(b, 'timeout');
    expect(pool.pick()).toBeNull();
    expect(pool.retryAfterSeconds()).toBe(6);
    now = 10_000;
    expect(pool.pick()).toBe(a);
  });

  it('never marks the only target down (its failures are answered as they happen)', () => {
    const pool = new TargetPool(targets(1));
    const only = pool.targets[0] as UpstreamTarget;
    pool.markDown(only, 'connect_failed');
    expect(pool.pick()).toBe(only);
  });

  it('shows targets without credentials and keeps their path prefix', () => {
    const pool = new TargetPool([
      { url: new URL('https://user:secret@api.example.com:8443/v1/'), weight: 1 },
    ]);
    const t = pool.targets[0] as UpstreamTarget;
    expect(t.display).toBe('https://api.example.com:8443/v1');
    expect(t.display).not.toContain('secret');
    expect(t.pathPrefix).toBe('/v1');
    expect(t.hostHeader).toBe('api.example.com:8443');
  });

  it('reports each health transition once: down with its reason, up when the cooldown is over', () => {
    let now = 0;
    const seen: Array<[string, boolean, HealthReason]> = [];
    const pool = new TargetPool(targets(1, 1), {
      cooldownMs: 10_000,
      now: () => now,
      onHealth: (target, healthy, reason) => seen.push([target.url.hostname, healthy, reason]),
    });
    const [a] = pool.targets as [UpstreamTarget, UpstreamTarget];
    pool.markDown(a, 'connect_failed');
    // A second failure while it is down extends the cooldown without a second report.
    now = 5_000;
    pool.markDown(a, 'timeout');
    counts(pool, 4);
    expect(seen).toEqual([['10.0.0.1', false, 'connect_failed']]);
    now = 15_000;
    counts(pool, 4);
    expect(seen).toEqual([
      ['10.0.0.1', false, 'connect_failed'],
      ['10.0.0.1', true, 'cooldown_elapsed'],
    ]);
  });

  it('reports nothing for the only target, which is never marked down', () => {
    const seen: boolean[] = [];
    const pool = new TargetPool(targets(1), { onHealth: (_t, healthy) => seen.push(healthy) });
    pool.markDown(pool.targets[0] as UpstreamTarget, 'connect_failed');
    pool.pick();
    expect(seen).toEqual([]);
  });

  it('knows each target’s endpoint once: host without IPv6 brackets, default ports, credentials', () => {
    const pool = new TargetPool([
      { url: new URL('http://[::1]:8080/x'), weight: 1 },
      { url: new URL('https://u%40x:p%3Aw@api.example.com'), weight: 1 },
      { url: new URL('http://plain.example.com'), weight: 1 },
    ]);
    const [v6, tls, plain] = pool.targets as [UpstreamTarget, UpstreamTarget, UpstreamTarget];
    expect([v6.hostname, v6.port, v6.https, v6.auth]).toEqual(['::1', 8080, false, undefined]);
    expect(v6.proxyTarget).toEqual({
      protocol: 'http:',
      host: '[::1]',
      hostname: '::1',
      port: 8080,
    });
    expect([tls.hostname, tls.port, tls.https, tls.auth]).toEqual([
      'api.example.com',
      443,
      true,
      'u@x:p:w',
    ]);
    expect(tls.display).toBe('https://api.example.com');
    expect(plain.port).toBe(80);
  });
});
