// Issue 11 item 7 (SPEC §8, rewrite output): a rewrite function's result was forwarded as returned,
// so `/..` and `\` reached the upstream although the gateway refuses both from clients. Now every
// rewrite result (function or template) is normalised like a client path; one a client path would
// be refused for is the operator's error: 500 internal_error, a proxy.error event, nothing forwarded.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createGateway,
  type GatewayEvent,
  type GatewayMiddleware,
  route,
} from '../../src/index.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { expectProblem } from '../helpers/problem.js';
import { type RawResponse, rawGet } from '../helpers/raw-http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** What each `/fn/<name>` route's rewrite function returns. */
const RESULTS: Record<string, string> = {
  above: '/..',
  climb: '/a/../../etc/passwd',
  backslash: '/a\\b',
  slash: '/files/a%2Fb',
  nul: '/a%00b',
  escape: '/a%zz',
  relative: 'etc/passwd',
  messy: '/a/./b//c/%7euser',
};

const SECRET = 'sk_live_do_not_leak';

describe.each(EXPRESS_MAJORS)('rewrite output on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  const events: GatewayEvent[] = [];
  const middlewares: GatewayMiddleware[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    const routes = [
      {
        name: 'fn',
        path: '/fn/:which',
        target: upstream.url,
        rewrite: ({ params }: { params: Record<string, unknown> }) =>
          RESULTS[params.which as string] ?? '/unknown',
      },
      {
        name: 'throws',
        path: '/throws',
        target: upstream.url,
        rewrite: (): string => {
          throw new Error(`lookup failed for ${SECRET}`);
        },
      },
      // A param that is only part of a segment can be '..': the template's result is normalised.
      { name: 'tpl-root', path: '/tpl/:a-y', target: upstream.url, rewrite: '/:a' },
      { name: 'tpl-inner', path: '/inner/:a-y', target: upstream.url, rewrite: '/x/:a/z' },
    ];
    host = await startHost((app) => {
      const gateway = createGateway({
        routes,
        onEvent: (e) => {
          events.push(e);
        },
      });
      middlewares.push(gateway);
      app.use('/gw', gateway);
      for (const options of routes) {
        const standalone = route({
          ...options,
          onEvent: (e) => {
            events.push(e);
          },
        });
        middlewares.push(standalone);
        app.use('/rt', standalone);
      }
    }, major);
  });

  afterAll(() => closeAll(middlewares, host, upstream));

  afterEach(() => {
    upstream.received.length = 0;
    events.length = 0;
  });

  function expectInternalError(response: RawResponse, routeName: string, reason: string): void {
    const body = expectProblem(response, 500, 'internal_error');
    expect(upstream.received).toEqual([]);
    const errors = events.filter((e) => e.type === 'proxy.error');
    expect(errors).toEqual([
      {
        type: 'proxy.error',
        requestId: body.requestId,
        route: routeName,
        attempt: 0,
        status: 500,
        code: 'internal_error',
        error: reason,
        durationMs: 0,
      },
    ]);
  }

  describe.each(['/gw', '/rt'])('through %s', (mount) => {
    it.each([
      ['above', 'above_root'],
      ['climb', 'above_root'],
      ['backslash', 'backslash'],
      ['slash', 'encoded_separator'],
      ['nul', 'nul'],
      ['escape', 'invalid_escape'],
      ['relative', 'not_origin_form'],
    ])(
      'answers a function result refused as %s with 500; nothing is forwarded',
      async (which, reason) => {
        const response = await rawGet(host.port, `${mount}/fn/${which}?q=1`);
        expectInternalError(response, 'fn', `rewrite result refused (${reason})`);
        // Neither the answer nor the event repeats the path.
        const result = RESULTS[which] as string;
        expect(response.body).not.toContain(result);
        expect(JSON.stringify(events)).not.toContain(result);
      },
    );

    it('forwards a function result normalised, the query kept', async () => {
      const response = await rawGet(host.port, `${mount}/fn/messy?q=%2e%2e&x`);
      expect(response.status).toBe(200);
      expect(upstream.received.map((r) => r.url)).toEqual(['/a/b/c/~user?q=%2e%2e&x']);
    });

    it('answers a throwing function with 500, and says nothing of its message', async () => {
      const response = await rawGet(host.port, `${mount}/throws`);
      expectInternalError(response, 'throws', 'rewrite function threw');
      expect(response.body).not.toContain(SECRET);
      expect(JSON.stringify(events)).not.toContain(SECRET);
    });

    it('answers a template result that climbs above the root with 500; nothing is forwarded', async () => {
      const response = await rawGet(host.port, `${mount}/tpl/..-y`);
      expectInternalError(response, 'tpl-root', 'rewrite result refused (above_root)');
    });

    it('forwards a template result normalised', async () => {
      const response = await rawGet(host.port, `${mount}/inner/..-y`);
      expect(response.status).toBe(200);
      expect(upstream.received.map((r) => r.url)).toEqual(['/z']);
    });
  });
});
