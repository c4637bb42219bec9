import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway } from '../../src/gateway.js';
import { normalizePath } from '../../src/route/normalize-path.js';
import { route } from '../../src/route/route.js';
import type { GatewayMiddleware, GatewayRequest } from '../../src/types.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * SPEC §5.1, end to end: for any request path, either the gateway refuses it
 * with 400 and the upstream sees nothing, or the upstream receives exactly
 * the path the route matched (no rewrite here). Paths go over raw sockets so
 * nothing on the client side cleans them up first.
 */

const NUM_RUNS = 300;

/** Pieces that matter to path handling, mixed with arbitrary short text. */
const piece = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'B', 'public', 'admin', 'x.y', '~', '-') },
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      '/',
      '//',
      '.',
      '..',
      '/./',
      '/../',
      '%2e',
      '%2E',
      '%2e%2E',
      '.%2e',
      '%2f',
      '%2F',
      '%5c',
      '%5C',
      '\\',
      '%00',
      ';',
      '..;',
      ';x=1',
      '%3B',
      '%41',
      '%7e',
      '%7E',
      '%c3%a9',
      '%c0%ae',
      '%e0%80%ae',
      '%25',
      '%252e',
      '%20',
      '%',
      '%z',
      '%4',
      '%zz',
      '"',
      '{',
      '|',
      '[',
      '\u00e9',
      '?',
      '?a=%2F..&b=/../',
      '#',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 3 }) },
);
const relativeTarget = fc
  .array(piece, { minLength: 0, maxLength: 14 })
  .map((pieces) => `/${pieces.join('')}`);

function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q === -1
    ? { path: target, query: '' }
    : { path: target.slice(0, q), query: target.slice(q) };
}

function sendRaw(port: number, target: string) {
  const head = `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`;
  // latin1: one byte per character, exactly as written (a non-ASCII byte stays one byte).
  return rawRequest(port, Buffer.from(head, 'latin1'));
}

describe.each(EXPRESS_MAJORS)('path safety on Express %i', (major) => {
  describe.each([
    { via: 'route()', mount: '/', path: '/{*rest}' },
    { via: 'route()', mount: '/api', path: '/{*rest}' },
    { via: 'route()', mount: '/api', path: '/public{/*path}' },
    { via: 'createGateway()', mount: '/api', path: '/public{/*path}' },
  ])('$via $path mounted at $mount', ({ via, mount, path }) => {
    const prefix = mount === '/' ? '' : mount;
    let upstream: Upstream;
    let host: Host;
    let gateway: GatewayMiddleware;
    /** Each request as the gateway saw it, to read what it matched. */
    const requests: GatewayRequest[] = [];

    beforeAll(async () => {
      upstream = await startUpstream();
      gateway =
        via === 'route()'
          ? route({ path, target: upstream.url })
          : createGateway({ routes: [{ path, target: upstream.url }] });
      host = await startHost((app) => {
        app.use(mount, (req: GatewayRequest, _res: unknown, next: () => void) => {
          requests.push(req);
          next();
        });
        app.use(mount, gateway);
        app.use((_req: unknown, res: { status(n: number): { end(): void } }) => {
          res.status(404).end();
        });
      }, major);
    });
    afterAll(async () => {
      await host.close();
      await gateway.close();
      await upstream.close();
    });

    it('refuses with 400 and forwards nothing, or forwards exactly the matched path', async () => {
      await fc.assert(
        fc.asyncProperty(relativeTarget, async (relative) => {
          const before = upstream.received.length;
          requests.length = 0;
          const response = await sendRaw(host.port, `${prefix}${relative}`);
          const forwarded = upstream.received.slice(before);
          const { path: relativePath, query } = splitTarget(relative);

          // Controls and spaces change how the request line itself is split, so only
          // targets without them are also checked against normalizePath as an oracle.
          const verbatim = ![...relative].some((ch) => ch <= ' ' || ch === '\u007f');
          if (verbatim && normalizePath(relativePath) === null) {
            // The gateway's own judgement: always a refusal, whatever Node thinks.
            expect(response.status).toBe(400);
          }
          if (response.status !== 200) {
            expect([400, 404]).toContain(response.status);
            expect(forwarded).toEqual([]);
            if (response.status === 400 && response.headers['content-type'] !== undefined) {
              expect(response.headers['content-type']).toBe('application/problem+json');
              expect(JSON.parse(response.body)).toMatchObject({ status: 400, code: 'bad_request' });
            }
            return;
          }
          // Forwarded: exactly once, exactly the matched path, the query untouched.
          expect(forwarded).toHaveLength(1);
          const matched = requests[0]?.gateway?.route?.path;
          expect(matched).toBeDefined();
          const receivedUrl = forwarded[0]?.url ?? '';
          const q = receivedUrl.indexOf('?');
          expect(q === -1 ? receivedUrl : receivedUrl.slice(0, q)).toBe(matched);
          // A raw space or control character changes how Node splits the request line
          // (e.g. a trailing space is not part of the target), so the query is compared
          // only for targets sent verbatim.
          if (verbatim) {
            expect(receivedUrl).toBe(`${matched}${query}`);
            expect(matched).toBe(normalizePath(relativePath));
          }
          if (path.startsWith('/public')) expect(matched).toMatch(/^\/public(\/|$)/);
        }),
        { numRuns: NUM_RUNS },
      );
    });
  });
});
