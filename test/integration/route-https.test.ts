import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, Agent as HttpsAgent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { routeCollector } from '../helpers/route-set.js';

// A self-signed certificate for 127.0.0.1 and localhost, valid for 100 years (test fixture only).
const fixture = (name: string): Buffer =>
  readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));
const cert = fixture('upstream-cert.pem');
const key = fixture('upstream-key.pem');

interface Seen {
  url: string;
  host: string | undefined;
  forwardedProto: string | undefined;
  servername: string | false | null | undefined;
}

describe.each(EXPRESS_MAJORS)('route() to an https: target on Express %i', (major) => {
  let upstream: Server;
  let port = 0;
  let host: Host;
  const seen: Seen[] = [];
  const events: GatewayEvent[] = [];
  const middlewares: GatewayMiddleware[] = [];
  const trusting = new HttpsAgent({ ca: cert, keepAlive: true });

  beforeAll(async () => {
    upstream = createHttpsServer({ key, cert }, (req, res) => {
      seen.push({
        url: req.url ?? '',
        host: req.headers.host,
        forwardedProto: req.headers['x-forwarded-proto'] as string | undefined,
        servername: (req.socket as TLSSocket).servername,
      });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`tls ${req.url}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    port = (upstream.address() as AddressInfo).port;
    const add = routeCollector(events, middlewares);
    host = await startHost((app) => {
      // No `proxy` options but the agent: portcullis' own forwarder.
      app.use(
        add({
          name: 'direct',
          path: '/direct{/*rest}',
          target: `https://localhost:${port}/base`,
          rewrite: '/{*rest}',
          proxy: { agent: trusting },
        }),
      );
      // An http-proxy-middleware option: the route forwards through http-proxy-middleware.
      app.use(
        add({
          name: 'fallback',
          path: '/fallback{/*rest}',
          target: `https://127.0.0.1:${port}`,
          rewrite: '/{*rest}',
          proxy: { secure: false },
        }),
      );
      // Neither trusted nor told to skip verification.
      app.use(add({ name: 'untrusted', path: '/untrusted', target: `https://127.0.0.1:${port}` }));
    }, major);
  });

  afterAll(async () => {
    await Promise.all(middlewares.map((m) => m.close()));
    trusting.destroy();
    await host.close();
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('forwards through portcullis’ forwarder over TLS, verifying the certificate for the target name', async () => {
    seen.length = 0;
    const answers = await Promise.all([1, 2, 3].map((i) => fetch(`${host.url}/direct/a/${i}?q=1`)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await Promise.all(answers.map((r) => r.text()))).toEqual([
      'tls /base/a/1?q=1',
      'tls /base/a/2?q=1',
      'tls /base/a/3?q=1',
    ]);
    expect(seen).toHaveLength(3);
    for (const s of seen) {
      expect(s.host).toBe(`localhost:${port}`);
      expect(s.servername).toBe('localhost');
      expect(s.forwardedProto).toBe('http');
    }
  });

  it('forwards through http-proxy-middleware when `proxy.secure: false` is set', async () => {
    seen.length = 0;
    const answer = await fetch(`${host.url}/fallback/b`);
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('tls /b');
    expect(seen.map((s) => s.host)).toEqual([`127.0.0.1:${port}`]);
  });

  it('answers 502 when the upstream certificate is not trusted, and sends it nothing', async () => {
    seen.length = 0;
    events.length = 0;
    const answer = await fetch(`${host.url}/untrusted`);
    expect(answer.status).toBe(502);
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(((await answer.json()) as { code: string }).code).toBe('bad_gateway');
    expect(seen).toEqual([]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'proxy.error', route: 'untrusted', status: 502 }),
    );
  });
});
