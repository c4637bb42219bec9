import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { routeCollector } from '../helpers/route-set.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

// The direct stream pass sends upstream requests at the end of the loop turn (setImmediate), outside
// the middleware's try/catch: what Node refuses to send must still be answered, never thrown.
describe.each(EXPRESS_MAJORS)(
  'route() requests sent at the end of the turn, Express %i',
  (major) => {
    let upstream: Upstream;
    let host: Host;
    const events: GatewayEvent[] = [];
    const middlewares: GatewayMiddleware[] = [];

    beforeAll(async () => {
      upstream = await startUpstream();
      const add = routeCollector(events, middlewares);
      host = await startHost((app) => {
        // A host middleware that leaves a header value Node will refuse to send (a CR/LF).
        app.use(
          '/bad',
          (req: { headers: Record<string, string> }, _res: unknown, next: () => void) => {
            req.headers['x-injected'] = 'a\r\nb';
            next();
          },
        );
        app.use('/bad', add({ path: '/x', target: upstream.url }));
        app.use(add({ path: '/x', target: upstream.url }));
      }, major);
    });

    afterAll(() => closeAll(middlewares, host, upstream));

    it('answers 502 when Node refuses to build the upstream request, and keeps serving', async () => {
      const before = upstream.received.length;
      const bad = await fetch(`${host.url}/bad/x`);
      expect(bad.status).toBe(502);
      expect(bad.headers.get('content-type')).toBe('application/problem+json');
      expect(((await bad.json()) as { code: string }).code).toBe('bad_gateway');
      expect(upstream.received.length).toBe(before);
      expect(events.some((e) => e.type === 'proxy.error' && e.status === 502)).toBe(true);
      // The process is alive and the batch of the next turn goes out as usual.
      const good = await Promise.all([1, 2, 3].map(() => fetch(`${host.url}/x`)));
      expect(good.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(upstream.received.length).toBe(before + 3);
    });

    it('sends every request of one turn, each to its own exchange', async () => {
      const paths = Array.from({ length: 40 }, (_, i) => `/x?i=${i}`);
      const answers = await Promise.all(
        paths.map(async (p) => {
          const r = await fetch(`${host.url}${p}`);
          return ((await r.json()) as { url: string }).url;
        }),
      );
      expect(answers).toEqual(paths);
    });
  },
);
