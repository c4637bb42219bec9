// Issue 11 item 1 (SPEC §8, Host): a host-scoped protected route and a public route to the same
// Express upstream. A Host the gateway read one way (no match for the protected route) and Express
// another (`admin.example.com`) walked past the protection. Raw sockets: fetch would refuse to
// send most of these values.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type GatewayMiddleware, route } from '../../src/index.js';
import { closeAll } from '../helpers/close-all.js';
import { type AnyExpressApp, EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { expectProblem } from '../helpers/problem.js';
import { type RawResponse, rawMessage, rawRequest } from '../helpers/raw-http.js';

const ALICE_KEY = 'alice-secret-key-0123456789';

/** What the Express upstream saw of one request. */
interface Seen {
  url: string;
  host: string | undefined;
  hostname: string;
  forwardedHost: string | undefined;
}

/**
 * An Express app behind the gateway, as users write them: it serves the admin data to whoever
 * it thinks is `admin.example.com` (by `req.hostname`, which with `trust proxy` comes from
 * X-Forwarded-Host).
 */
async function startExpressUpstream(major: 4 | 5): Promise<Host & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const upstream = await startHost((app) => {
    app.set('trust proxy', true);
    app.use((req: AnyExpressApp, res: AnyExpressApp) => {
      seen.push({
        url: req.url,
        host: req.headers.host,
        hostname: req.hostname,
        forwardedHost: req.headers['x-forwarded-host'],
      });
      res.json(
        req.hostname === 'admin.example.com' ? { data: 'admin secrets' } : { data: 'public' },
      );
    });
  }, major);
  return Object.assign(upstream, { seen });
}

function get(
  port: number,
  path: string,
  hosts: string[],
  extra: string[] = [],
): Promise<RawResponse> {
  return rawRequest(port, rawMessage('GET', path, hosts, extra));
}

/** Host values that an Express upstream reads as `admin.example.com` (or would, behind some parser). */
const BYPASSES: string[][] = [
  ['admin.example.com:443:1'],
  ['admin.example.com/'],
  ['admin.example.com\\'],
  ['x@admin.example.com'],
  ['admin.example.com:80:80'],
  ['public.example.com', 'admin.example.com'],
  ['admin.example.com', 'public.example.com'],
  [''],
];

describe.each(EXPRESS_MAJORS)('Host validation on Express %i', (major) => {
  let upstream: Awaited<ReturnType<typeof startExpressUpstream>>;
  let host: Host;
  const middlewares: GatewayMiddleware[] = [];

  beforeAll(async () => {
    upstream = await startExpressUpstream(major);
    host = await startHost((app) => {
      const gateway = createGateway({
        auth: { apiKey: { keys: [{ id: 'alice', key: ALICE_KEY }] } },
        routes: [
          { host: 'admin.example.com', path: '/{*rest}', target: upstream.url },
          { path: '/{*rest}', target: upstream.url, auth: false },
        ],
      });
      middlewares.push(gateway);
      app.use('/gw', gateway);
      // The same two routes as standalone route()s (each judges the request itself).
      const protectedRoute = route({
        host: 'admin.example.com',
        path: '/admin-only{/*rest}',
        target: upstream.url,
      });
      const publicRoute = route({ path: '/{*rest}', target: upstream.url, preserveHost: true });
      middlewares.push(protectedRoute, publicRoute);
      app.use('/rt', protectedRoute, publicRoute);
    }, major);
  });

  afterAll(() => closeAll(middlewares, host, upstream));

  it('serves the admin data only with credentials, and the public data to anyone', async () => {
    upstream.seen.length = 0;
    const refused = await get(host.port, '/gw/users', ['admin.example.com']);
    expect(refused.status).toBe(401);
    expect(upstream.seen).toEqual([]);

    const admin = await get(
      host.port,
      '/gw/users',
      ['admin.example.com'],
      [`x-api-key: ${ALICE_KEY}`],
    );
    expect(admin.status).toBe(200);
    expect(JSON.parse(admin.body)).toEqual({ data: 'admin secrets' });

    const open = await get(host.port, '/gw/users', ['public.example.com:8080']);
    expect(open.status).toBe(200);
    expect(JSON.parse(open.body)).toEqual({ data: 'public' });
    expect(upstream.seen).toHaveLength(2);
    expect(upstream.seen[1]).toMatchObject({
      url: '/users',
      forwardedHost: 'public.example.com:8080',
      hostname: 'public.example.com',
    });
  });

  it.each(BYPASSES)(
    'refuses Host %j with 400 through createGateway; the upstream sees nothing',
    async (...hosts) => {
      upstream.seen.length = 0;
      const response = await get(host.port, '/gw/users', hosts);
      // Checked first: without the Host check, this is where the admin data leaked.
      expect(response.body).not.toContain('admin secrets');
      expectProblem(response, 400, 'bad_request');
      expect(upstream.seen).toEqual([]);
    },
  );

  it.each(BYPASSES)(
    'refuses Host %j with 400 through standalone route(); the upstream sees nothing',
    async (...hosts) => {
      upstream.seen.length = 0;
      const response = await get(host.port, '/rt/users', hosts);
      expectProblem(response, 400, 'bad_request');
      expect(upstream.seen).toEqual([]);
    },
  );

  it('forwards the validated Host as X-Forwarded-Host and, with preserveHost, as Host', async () => {
    upstream.seen.length = 0;
    const response = await get(host.port, '/rt/users', ['Public.Example.com.:8443']);
    expect(response.status).toBe(200);
    expect(upstream.seen).toEqual([
      {
        url: '/users',
        host: 'Public.Example.com.:8443',
        hostname: 'Public.Example.com.',
        forwardedHost: 'Public.Example.com.:8443',
      },
    ]);
  });

  it('matches the host-scoped route for the validated Host in any case, with port and trailing dot', async () => {
    upstream.seen.length = 0;
    for (const value of ['ADMIN.example.com', 'admin.example.com.:443', 'admin.EXAMPLE.com:8443']) {
      const response = await get(host.port, '/gw/users', [value]);
      expect(response.status).toBe(401);
    }
    expect(upstream.seen).toEqual([]);
  });
});
