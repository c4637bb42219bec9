import { describe, expect, it } from 'vitest';
import { configHash } from '../../src/gateway/config-hash.js';
import { MemoryStore } from '../../src/stores/memory-store.js';

describe('configHash', () => {
  const config = {
    auth: { apiKey: { keys: [{ id: 'alice', key: 'alice-secret-key-0123456789' }] } },
    rateLimit: { limit: 5, window: '1m' },
    routes: [{ path: '/a{/*p}', target: ['http://a:1', { url: 'http://b:2', weight: 2 }] }],
  };

  it('is 16 hex digits, the same for the same data whatever the key order', () => {
    const reordered = {
      routes: [{ target: ['http://a:1', { weight: 2, url: 'http://b:2' }], path: '/a{/*p}' }],
      rateLimit: { window: '1m', limit: 5 },
      auth: { apiKey: { keys: [{ key: 'alice-secret-key-0123456789', id: 'alice' }] } },
    };
    expect(configHash(config)).toMatch(/^[0-9a-f]{16}$/);
    expect(configHash(reordered)).toBe(configHash(config));
  });

  it('changes with any data, secrets included, but never shows them', () => {
    const rotated = structuredClone(config);
    (rotated.auth.apiKey.keys[0] as { key: string }).key = 'alice-secret-key-rotated-000';
    expect(configHash(rotated)).not.toBe(configHash(config));
    const reordered = structuredClone(config);
    reordered.routes[0]?.target.reverse();
    // Array order is data (targets, routes are tried in order).
    expect(configHash(reordered)).not.toBe(configHash(config));
    expect(configHash(config)).not.toContain('alice');
  });

  it('leaves code out: functions and objects such as stores, in objects and in arrays', () => {
    const withCode = {
      ...config,
      store: new MemoryStore(),
      onEvent: () => {},
      routes: [{ ...config.routes[0], rewrite: () => '/x', proxy: { plugins: [() => {}] } }],
    };
    const withOtherCode = {
      ...config,
      store: new MemoryStore({ maxKeys: 10 }),
      onEvent: () => 1,
      routes: [{ ...config.routes[0], rewrite: () => '/y', proxy: { plugins: [() => 2] } }],
    };
    expect(configHash(withOtherCode)).toBe(configHash(withCode));
    // An array element holding code keeps its place (as null).
    const plugins = (n: number) => ({ routes: [{ proxy: { plugins: Array(n).fill(() => {}) } }] });
    expect(configHash(plugins(1))).not.toBe(configHash(plugins(2)));
    // A cycle is not data either, and does not recurse forever.
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(configHash(cyclic)).toBe(configHash({ a: 1 }));
    void withCode.store.close();
    void withOtherCode.store.close();
  });
});
