// Issue 11 item 2 (SPEC §5 caseSensitive): a protected `/admin{/*p}` and a public catch-all to the
// same Express upstream. The gateway matched case-sensitively while Express routes
// case-insensitively, so `/ADMIN/users` and `/%41dmin/users` (normalised to `/Admin/users`) reached
// the admin data without credentials. `caseSensitive` now defaults to false. Raw sockets, so
// `%41` arrives as sent.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type GatewayMiddleware, route } from '../../src/index.js';
import { closeAll } from '../helpers/close-all.js';
import { type AnyExpressApp, EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { expectProblem } from '../helpers/problem.js';
import { type RawResponse, rawMessage, rawRequest } from '../helpers/raw-http.js';

const ALICE_KEY = 'alice-secret-key-0123456789';

/** An Express upstream with its own (case-insensitive, Express's default) routes. */
async function startExpressUpstream(major: 4 | 5): Promise<Host & { seen: string[] }> {
  const seen: string[] = [];
  const upstream = await startHost((app) => {
    app.use((req: AnyExpressApp, _res: AnyExpressApp, next: () => void) => {
      seen.push(req.url);
      next();
    });
    app.get('/admin/users', (_req: AnyExpressApp, res: AnyExpressApp) => {
      res.json({ data: 'admin users' });
    });
    app.get('/files/:name', (req: AnyExpressApp, res: AnyExpressApp) => {
      res.json({ name: req.params.name });
    });
    app.use((_req: AnyExpressApp, res: AnyExpressApp) => {
      res.json({ data: 'public' });
    });
  }, major);
  return Object.assign(upstream, { seen });
}

function get(port: number, path: string, extra: string[] = []): Promise<RawResponse> {
  return rawRequest(port, rawMessage('GET', path, ['gw.example'], extra));
}

const SPELLINGS = [
  '/ADMIN/users',
  '/%41dmin/users',
  '/%41DMIN/users',
  '/Admin/Users',
  '/aDmIn/users/',
];

describe.each(EXPRESS_MAJORS)('case-insensitive routes by default on Express %i', (major) => {
  let upstream: Awaited<ReturnType<typeof startExpressUpstream>>;
  let host: Host;
  const middlewares: GatewayMiddleware[] = [];

  beforeAll(async () => {
    upstream = await startExpressUpstream(major);
    host = await startHost((app) => {
      const gateway = createGateway({
        auth: { apiKey: { keys: [{ id: 'alice', key: ALICE_KEY }] } },
        routes: [
          { path: '/admin{/*p}', target: upstream.url },
          { path: '/{*p}', target: upstream.url, auth: false },
        ],
      });
      middlewares.push(gateway);
      app.use('/gw', gateway);
      // Standalone: a route with a rewrite template, and one that opts back into case-sensitivity.
      const files = route({ path: '/docs/:name', target: upstream.url, rewrite: '/files/:name' });
      const strict = route({ path: '/strict', target: upstream.url, caseSensitive: true });
      middlewares.push(files, strict);
      app.use('/rt', files, strict);
    }, major);
  });

  afterAll(() => closeAll(middlewares, host, upstream));

  afterEach(() => {
    upstream.seen.length = 0;
  });

  it.each(SPELLINGS)('%s needs credentials: 401, the upstream sees nothing', async (path) => {
    const response = await get(host.port, `/gw${path}`);
    expect(response.body).not.toContain('admin users');
    expectProblem(response, 401, 'unauthorized');
    expect(upstream.seen).toEqual([]);
  });

  it.each(SPELLINGS)(
    '%s with credentials reaches the admin route, in the path’s own case',
    async (path) => {
      const response = await get(host.port, `/gw${path}`, [`x-api-key: ${ALICE_KEY}`]);
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ data: 'admin users' });
      // Normalised (%41 → A), never re-cased.
      expect(upstream.seen).toEqual([path.replace('%41', 'A')]);
    },
  );

  it('still serves the public catch-all without credentials', async () => {
    const response = await get(host.port, '/gw/Public/Page');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ data: 'public' });
    expect(upstream.seen).toEqual(['/Public/Page']);
  });

  it('matches a standalone route in any case and keeps the params’ case in its rewrite', async () => {
    const response = await get(host.port, '/rt/DOCS/ReadMe.TXT');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ name: 'ReadMe.TXT' });
    expect(upstream.seen).toEqual(['/files/ReadMe.TXT']);
  });

  it('keeps caseSensitive: true for a route that asks for it', async () => {
    const exact = await get(host.port, '/rt/strict');
    expect(exact.status).toBe(200);
    const other = await get(host.port, '/rt/STRICT');
    // Unmatched: the host app's own 404, never forwarded.
    expect(other.status).toBe(404);
    expect(upstream.seen).toEqual(['/strict']);
  });
});
