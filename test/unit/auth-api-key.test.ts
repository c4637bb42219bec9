import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../src/auth/authenticator.js';
import { hashApiKey } from '../../src/auth/hash-api-key.js';
import type { ProblemInit } from '../../src/problem.js';
import { type AuthOptions, parseAuthOptions } from '../../src/schema/auth.js';
import type { GatewayEvent, GatewayRequest } from '../../src/types.js';

const KEY = 'unit-test-key-0123456789abcdef';

/** A real (unconnected) request/response pair, to call a Step directly. */
function exchange(url: string, headers: Record<string, string>) {
  const req = new IncomingMessage(new Socket()) as GatewayRequest;
  req.method = 'GET';
  req.url = url;
  req.headers = { ...headers };
  const res = new ServerResponse(req);
  return { req, res };
}

function build(options: AuthOptions) {
  const events: GatewayEvent[] = [];
  const problems: ProblemInit[] = [];
  const auth = createAuthenticator(parseAuthOptions(options).value, {
    emit: (e) => events.push(e),
    sendProblem: (_req, _res, init) => problems.push(init),
  });
  return { auth, events, problems };
}

describe('hashApiKey', () => {
  it('is the SHA-256 hex digest', () => {
    expect(hashApiKey('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(() => hashApiKey('')).toThrow(TypeError);
  });
});

describe('the API-key step', () => {
  const { auth, events, problems } = build({
    apiKey: {
      query: 'api_key',
      keys: [
        { id: 'alice', key: KEY, scopes: ['read'], plan: 'gold', metadata: { tier: 1 } },
        { id: 'bob', hash: hashApiKey(`${KEY}-bob`) },
      ],
    },
  });
  const step = auth.step(auth.defaultRequirement, 'r1');

  it('answers synchronously with a boolean (no promise on the hot path)', () => {
    const ok = exchange('/x', { 'x-api-key': KEY });
    const result = step(ok.req, ok.res);
    expect(result).toBe(true);
    expect(ok.req.gateway?.principal).toEqual({
      id: 'alice',
      type: 'apiKey',
      scopes: ['read'],
      plan: 'gold',
      metadata: { tier: 1 },
    });
    expect(ok.req.headers['x-api-key']).toBeUndefined();
    expect(ok.req.headers['x-consumer-id']).toBe('alice');
    const bad = exchange('/x', { 'x-api-key': 'nope' });
    expect(step(bad.req, bad.res)).toBe(false);
    const none = exchange('/x', {});
    expect(step(none.req, none.res)).toBe(false);
    expect(problems.map((p) => p.code)).toEqual(['unauthorized', 'unauthorized']);
    expect(events.map((e) => e.type)).toEqual(['auth.succeeded', 'auth.failed', 'auth.failed']);
    expect(events[0]).toMatchObject({ route: 'r1', consumerId: 'alice' });
  });

  it('gives each request its own principal (mutations do not leak into the next)', () => {
    const a = exchange('/x', { 'x-api-key': KEY });
    step(a.req, a.res);
    a.req.gateway?.principal?.scopes.push('admin');
    const b = exchange('/x', { 'x-api-key': KEY });
    step(b.req, b.res);
    expect(b.req.gateway?.principal?.scopes).toEqual(['read']);
    expect(Object.isFrozen(b.req.gateway?.principal?.metadata)).toBe(true);
  });

  it('reads the query parameter and removes it from req.url', () => {
    const q = exchange(`/x?a=1&api_key=${KEY}&b=2`, {});
    expect(step(q.req, q.res)).toBe(true);
    expect(q.req.url).toBe('/x?a=1&b=2');
    const enc = exchange(`/x?api%5Fkey=${encodeURIComponent(`${KEY}-bob`)}`, {});
    expect(step(enc.req, enc.res)).toBe(true);
    expect(enc.req.gateway?.principal?.id).toBe('bob');
    expect(enc.req.url).toBe('/x');
  });

  it('requires every scope of the requirement', () => {
    const strict = auth.step({ optional: false, scopes: ['read', 'write'] });
    const e = exchange('/x', { 'x-api-key': KEY });
    const before = problems.length;
    expect(strict(e.req, e.res)).toBe(false);
    expect(problems[before]).toMatchObject({ code: 'forbidden' });
    expect(problems[before]?.headers).toBeUndefined();
    expect(e.req.gateway?.principal).toBeUndefined();
  });

  it('optional with scopes still refuses anonymous callers (401)', () => {
    const s = auth.step({ optional: true, scopes: ['read'] });
    const e = exchange('/x', {});
    const before = problems.length;
    expect(s(e.req, e.res)).toBe(false);
    expect(problems[before]).toMatchObject({ code: 'unauthorized' });
    const open = auth.step({ optional: true, scopes: [] });
    const f = exchange('/x', { 'x-consumer-id': 'eve' });
    expect(open(f.req, f.res)).toBe(true);
    expect(f.req.gateway?.principal?.type).toBe('anonymous');
    expect(f.req.headers['x-consumer-id']).toBeUndefined();
  });

  it('exposes its consumer header names and default requirement', () => {
    expect(auth.consumerHeaders).toEqual({
      id: 'x-consumer-id',
      scopes: 'x-consumer-scopes',
      type: 'x-consumer-type',
    });
    expect(auth.defaultRequirement).toEqual({ optional: false, scopes: [] });
  });
});
