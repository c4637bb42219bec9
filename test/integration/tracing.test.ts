// OpenTelemetry traces (SPEC §10) with a real SDK: @opentelemetry/sdk-trace with an in-memory
// exporter, the AsyncLocalStorage context manager and the W3C trace-context propagator, all
// registered through the ES module copy of @opentelemetry/api while portcullis loads its own
// (CommonJS) copy, as in an application. Real Express hosts and real upstreams that record the
// `traceparent` / `tracestate` they received.
//
// The file runs in order: first without a tracer provider (the gateway does no tracing work and
// forwards a client's trace headers byte for byte), then with one registered after the gateways
// were built, then without again after `trace.disable()`.

import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { createGateway, type GatewayMiddleware, handleUpgrades, route } from '../../src/index.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawGet, rawRequest } from '../helpers/raw-http.js';
import { closedPort, closeServer, startUpstream, type Upstream } from '../helpers/upstream.js';

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const CALLER_TRACEPARENT = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
const CALLER_TRACESTATE = 'vendor=opaque,other=x:y';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const contextManager = new AsyncLocalStorageContextManager();
/** The host's own tracer, for its server span. */
let hostTracer: Tracer;

let upstream: Upstream;
let deadPort: number;
const hosts: Host[] = [];
const gateways: GatewayMiddleware[] = [];

/** A host's HTTP instrumentation in a few lines: a SERVER span, active while the app runs. */
function serverSpans(spans: Span[]) {
  return (
    req: { headers: Record<string, unknown> },
    res: NodeJS.EventEmitter,
    next: () => void,
  ) => {
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = hostTracer.startSpan('GET', { kind: SpanKind.SERVER }, parent);
    spans.push(span);
    res.on('close', () => span.end());
    context.with(trace.setSpan(parent, span), next);
  };
}

function clientSpans(): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
}

/** Waits for `count` finished CLIENT spans (they end when the client response closes). */
async function waitForClientSpans(count: number): Promise<ReadableSpan[]> {
  await vi.waitFor(() => expect(clientSpans()).toHaveLength(count));
  return clientSpans();
}

function receivedHeader(name: string, index = -1): string | undefined {
  const request = upstream.received.at(index);
  const value = request?.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** The raw header lines an upstream request carried under `name` (case-insensitive). */
function rawHeaderValues(name: string, index = -1): string[] {
  const raw = upstream.received.at(index)?.rawHeaders ?? [];
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === name) values.push(raw[i + 1] as string);
  }
  return values;
}

function track<T extends GatewayMiddleware>(gateway: T): T {
  gateways.push(gateway);
  return gateway;
}

async function host(setup: Parameters<typeof startHost>[0], major: 4 | 5 = 5): Promise<Host> {
  const started = await startHost(setup, major);
  hosts.push(started);
  return started;
}

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
  );
  hostTracer = provider.getTracer('host-app');
  upstream = await startUpstream();
  upstream.handle((req, res) => {
    const url = req.url ?? '';
    const status = url.includes('/status/') ? Number(url.split('/status/')[1]?.slice(0, 3)) : 200;
    if (url.includes('/hold')) return; // never answers: the route's timeout strikes
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  deadPort = await closedPort();
});

afterAll(async () => {
  for (const gateway of gateways) await gateway.close();
  for (const h of hosts) await h.close();
  await upstream.close();
  trace.disable();
  propagation.disable();
  context.disable();
  await provider.shutdown();
});

beforeEach(() => {
  exporter.reset();
  upstream.received.length = 0;
});

describe('OpenTelemetry, no tracer provider registered', () => {
  let plain: Host;
  beforeAll(async () => {
    const gateway = track(
      createGateway({
        routes: [{ path: '/svc{/*path}', target: upstream.url, rewrite: '/{*path}' }],
      }),
    );
    plain = await host((app) => app.use('/api', gateway));
  });

  it('forwards the client’s traceparent, tracestate and baggage byte for byte, and starts no span', async () => {
    const res = await rawGet(plain.port, '/api/svc/items?x=1', [
      `TraceParent: ${CALLER_TRACEPARENT}`,
      `tracestate: ${CALLER_TRACESTATE}`,
      'baggage: k=v',
    ]);
    expect(res.status).toBe(200);
    expect(rawHeaderValues('traceparent')).toEqual([CALLER_TRACEPARENT]);
    expect(rawHeaderValues('tracestate')).toEqual([CALLER_TRACESTATE]);
    expect(rawHeaderValues('baggage')).toEqual(['k=v']);
    // Nothing started a span anywhere (the provider exists but nobody registered it).
    expect(exporter.getFinishedSpans()).toEqual([]);
    expect(trace.getTracerProvider().getTracer('x').startSpan('probe').isRecording()).toBe(false);
  });

  it('adds no trace headers to a request that had none', async () => {
    const res = await rawGet(plain.port, '/api/svc/items');
    expect(res.status).toBe(200);
    expect(upstream.received).toHaveLength(1);
    expect(receivedHeader('traceparent')).toBeUndefined();
    expect(receivedHeader('tracestate')).toBeUndefined();
  });
});

describe.each(EXPRESS_MAJORS)(
  'OpenTelemetry, a provider registered after the gateway was built (Express %i)',
  (major) => {
    let traced: Host;
    let untracedHost: Host;
    const serverSpanList: Span[] = [];

    beforeAll(async () => {
      // Built before the provider is registered, as an app that sets up tracing late would.
      const gateway = track(
        createGateway({
          routes: [
            { name: 'svc', path: '/svc{/*path}', target: upstream.url, rewrite: '/{*path}' },
            {
              path: '/retry{/*path}',
              target: [`http://127.0.0.1:${deadPort}`, upstream.url],
              rewrite: '/{*path}',
              retries: 1,
            },
            { path: '/dead', target: `http://127.0.0.1:${deadPort}` },
            { path: '/slow{/*path}', target: upstream.url, rewrite: '/hold', timeout: '150ms' },
            {
              path: '/creds{/*path}',
              target: `http://user:pass@127.0.0.1:${upstream.port}/base/`,
              rewrite: '/{*path}',
            },
            {
              path: '/hpm{/*path}',
              target: upstream.url,
              rewrite: '/{*path}',
              proxy: { preserveHeaderKeyCase: true },
            },
          ],
        }),
      );
      traced = await host((app) => {
        app.use(serverSpans(serverSpanList));
        app.use('/api', gateway);
      }, major);
      untracedHost = await host((app) => app.use('/api', gateway), major);
      trace.setGlobalTracerProvider(provider);
    });

    beforeEach(() => {
      serverSpanList.length = 0;
    });

    it('makes each attempt a CLIENT span, child of the host’s server span, and injects its context', async () => {
      const res = await rawGet(traced.port, '/api/svc/items/42?token=secret', [
        `traceparent: ${CALLER_TRACEPARENT}`,
        `tracestate: ${CALLER_TRACESTATE}`,
      ]);
      expect(res.status).toBe(200);
      const [span] = await waitForClientSpans(1);
      const server = serverSpanList[0] as Span;
      expect(span?.name).toBe('GET');
      expect(span?.instrumentationScope.name).toBe('portcullis');
      expect(span?.attributes).toEqual({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': upstream.port,
        'url.full': `http://127.0.0.1:${upstream.port}/items/42`,
        'http.response.status_code': 200,
      });
      expect(span?.status).toEqual({ code: SpanStatusCode.UNSET });
      // A child of the server span, which continues the caller's trace.
      expect(span?.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
      expect(span?.spanContext().traceId).toBe(CALLER_TRACE);
      // The upstream saw the client span's context, not the caller's; the query went on unchanged.
      expect(upstream.received.at(-1)?.url).toBe('/items/42?token=secret');
      expect(rawHeaderValues('traceparent')).toEqual([
        `00-${CALLER_TRACE}-${span?.spanContext().spanId}-01`,
      ]);
      expect(rawHeaderValues('tracestate')).toEqual([CALLER_TRACESTATE]);
    });

    it('sets http.route (the route’s path template) on the server span, refused requests too', async () => {
      await rawGet(traced.port, '/api/svc/items/42');
      await waitForClientSpans(1);
      expect(readable(serverSpanList[0]).attributes['http.route']).toBe('/svc{/*path}');
      // Unmatched: no route, no http.route.
      await rawGet(traced.port, '/api/nothing-here');
      expect(readable(serverSpanList[1]).attributes['http.route']).toBeUndefined();
    });

    it('continues the caller’s trace from the request headers when no span is active', async () => {
      const res = await rawGet(untracedHost.port, '/api/svc/a', [
        `traceparent: ${CALLER_TRACEPARENT}`,
        `tracestate: ${CALLER_TRACESTATE}`,
        'baggage: tenant=t1',
      ]);
      expect(res.status).toBe(200);
      const [span] = await waitForClientSpans(1);
      expect(span?.spanContext().traceId).toBe(CALLER_TRACE);
      expect(span?.parentSpanContext?.spanId).toBe(CALLER_SPAN);
      expect(span?.parentSpanContext?.isRemote).toBe(true);
      const sent = rawHeaderValues('traceparent');
      expect(sent).toEqual([`00-${CALLER_TRACE}-${span?.spanContext().spanId}-01`]);
      expect(rawHeaderValues('tracestate')).toEqual([CALLER_TRACESTATE]);
      // The propagator's other fields go on through the context (and are not duplicated).
      expect(rawHeaderValues('baggage')).toEqual(['tenant=t1']);
    });

    it('starts a new trace when the client sent none and no span is active', async () => {
      await rawGet(untracedHost.port, '/api/svc/a', ['tracestate: stale=1']);
      const [span] = await waitForClientSpans(1);
      expect(span?.parentSpanContext).toBeUndefined();
      const match = TRACEPARENT.exec(receivedHeader('traceparent') ?? '');
      expect(match?.[1]).toBe(span?.spanContext().traceId);
      expect(match?.[2]).toBe(span?.spanContext().spanId);
      // A tracestate that belonged to no valid traceparent is not passed on beside the new one.
      expect(receivedHeader('tracestate')).toBeUndefined();
    });

    it('gives a retry its own span on the next target, with http.request.resend_count', async () => {
      const res = await rawGet(traced.port, '/api/retry/r');
      expect(res.status).toBe(200);
      const spans = await waitForClientSpans(2);
      const [first, second] = [...spans].sort((a, b) => hrMs(a.startTime) - hrMs(b.startTime));
      const server = serverSpanList[0] as Span;
      expect(first?.attributes).toEqual({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': deadPort,
        'url.full': `http://127.0.0.1:${deadPort}/r`,
        'error.type': 'bad_gateway',
      });
      expect(first?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'ECONNREFUSED' });
      expect(second?.attributes).toEqual({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': upstream.port,
        'url.full': `http://127.0.0.1:${upstream.port}/r`,
        'http.request.resend_count': 1,
        'http.response.status_code': 200,
      });
      expect(second?.status).toEqual({ code: SpanStatusCode.UNSET });
      for (const span of [first, second]) {
        expect(span?.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
      }
      // Only the second attempt reached the upstream, with its own span's context.
      expect(upstream.received).toHaveLength(1);
      expect(receivedHeader('traceparent')).toBe(
        `00-${server.spanContext().traceId}-${second?.spanContext().spanId}-01`,
      );
    });

    it('marks 502 (refused), 504 (timeout) and a relayed 5xx as errors; a 4xx is the client’s', async () => {
      expect((await rawGet(traced.port, '/api/dead')).status).toBe(502);
      expect((await rawGet(traced.port, '/api/slow')).status).toBe(504);
      expect((await rawGet(traced.port, '/api/svc/status/503')).status).toBe(503);
      expect((await rawGet(traced.port, '/api/svc/status/404')).status).toBe(404);
      const spans = await waitForClientSpans(4);
      const byPort = (port: number, path: string) =>
        spans.find(
          (s) => s.attributes['server.port'] === port && s.attributes['url.full'] === path,
        ) as ReadableSpan;
      const refused = byPort(deadPort, `http://127.0.0.1:${deadPort}/dead`);
      expect(refused.attributes['error.type']).toBe('bad_gateway');
      expect(refused.attributes['http.response.status_code']).toBeUndefined();
      expect(refused.status).toEqual({ code: SpanStatusCode.ERROR, message: 'ECONNREFUSED' });
      const timedOut = byPort(upstream.port, `http://127.0.0.1:${upstream.port}/hold`);
      expect(timedOut.attributes['error.type']).toBe('gateway_timeout');
      expect(timedOut.attributes['http.response.status_code']).toBeUndefined();
      expect(timedOut.status).toEqual({ code: SpanStatusCode.ERROR, message: 'upstream timeout' });
      const unavailable = byPort(upstream.port, `http://127.0.0.1:${upstream.port}/status/503`);
      expect(unavailable.attributes['http.response.status_code']).toBe(503);
      expect(unavailable.attributes['error.type']).toBe('503');
      expect(unavailable.status).toEqual({ code: SpanStatusCode.ERROR });
      const notFound = byPort(upstream.port, `http://127.0.0.1:${upstream.port}/status/404`);
      expect(notFound.attributes['http.response.status_code']).toBe(404);
      expect(notFound.attributes['error.type']).toBeUndefined();
      expect(notFound.status).toEqual({ code: SpanStatusCode.UNSET });
    });

    it('names a span HTTP for a method outside the standard set, with the original method', async () => {
      const res = await rawRequest(
        traced.port,
        `PROPFIND /api/svc/dav HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      );
      expect(res.status).toBe(200);
      const [span] = await waitForClientSpans(1);
      expect(span?.name).toBe('HTTP');
      expect(span?.attributes['http.request.method']).toBe('_OTHER');
      expect(span?.attributes['http.request.method_original']).toBe('PROPFIND');
      expect(upstream.received.at(-1)?.method).toBe('PROPFIND');
    });

    it('redacts a target’s credentials in url.full and keeps its path prefix', async () => {
      await rawGet(traced.port, '/api/creds/x?y=1');
      const [span] = await waitForClientSpans(1);
      expect(span?.attributes['url.full']).toBe(
        `http://REDACTED:REDACTED@127.0.0.1:${upstream.port}/base/x`,
      );
      expect(upstream.received.at(-1)?.url).toBe('/base/x?y=1');
      expect(upstream.received.at(-1)?.headers.authorization).toBe(
        `Basic ${Buffer.from('user:pass').toString('base64')}`,
      );
    });

    it('injects through http-proxy-middleware too (routes with proxy options)', async () => {
      await rawGet(traced.port, '/api/hpm/p', [`traceparent: ${CALLER_TRACEPARENT}`]);
      const [span] = await waitForClientSpans(1);
      expect(span?.attributes['http.response.status_code']).toBe(200);
      expect(rawHeaderValues('traceparent')).toEqual([
        `00-${CALLER_TRACE}-${span?.spanContext().spanId}-01`,
      ]);
    });
  },
);

describe('OpenTelemetry with standalone route() and a refused request', () => {
  const serverSpanList: Span[] = [];
  let h: Host;
  beforeAll(async () => {
    trace.setGlobalTracerProvider(provider); // a no-op when the describe above registered it
    const standalone = track(route({ path: '/users/:id', target: upstream.url }));
    const guarded = track(
      createGateway({
        auth: { apiKey: { keys: [{ id: 'alice', key: 'alice-key-0123456789' }] } },
        routes: [{ path: '/private/:id', target: upstream.url }],
      }),
    );
    h = await host((app) => {
      app.use(serverSpans(serverSpanList));
      app.use(standalone);
      app.use('/gw', guarded);
    });
  });

  beforeEach(() => {
    serverSpanList.length = 0;
  });

  it('sets http.route from a standalone route()', async () => {
    await rawGet(h.port, '/users/7');
    const [span] = await waitForClientSpans(1);
    expect(span?.parentSpanContext?.spanId).toBe(serverSpanList[0]?.spanContext().spanId);
    expect(readable(serverSpanList[0]).attributes['http.route']).toBe('/users/:id');
  });

  it('sets http.route on a request the gateway refuses (401), which has no client span', async () => {
    const res = await rawGet(h.port, '/gw/private/1');
    expect(res.status).toBe(401);
    await vi.waitFor(() => expect(readable(serverSpanList[0]).ended).toBe(true));
    expect(readable(serverSpanList[0]).attributes['http.route']).toBe('/private/:id');
    expect(clientSpans()).toEqual([]);
    expect(upstream.received).toEqual([]);
  });
});

describe('OpenTelemetry and a WebSocket tunnel', () => {
  it('makes the handshake a CLIENT span that ends with the upstream’s 101, its context sent upstream', async () => {
    trace.setGlobalTracerProvider(provider); // a no-op when it is registered already
    const handshakes: IncomingHttpHeaders[] = [];
    const wsServer = createServer();
    const wss = new WebSocketServer({ server: wsServer });
    wss.on('connection', (socket, req) => {
      handshakes.push(req.headers);
      socket.send('hello');
    });
    await new Promise<void>((resolve) => wsServer.listen(0, '127.0.0.1', resolve));
    const wsPort = (wsServer.address() as AddressInfo).port;
    const gateway = track(
      createGateway({
        routes: [{ path: '/chat', target: `http://127.0.0.1:${wsPort}`, websocket: true }],
      }),
    );
    const h = await host((app) => app.use(gateway));
    const stop = handleUpgrades(h.server, h.app);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${h.port}/chat`, {
        headers: { traceparent: CALLER_TRACEPARENT },
      });
      const first = await new Promise<string>((resolve, reject) => {
        ws.once('message', (data) => resolve(data.toString()));
        ws.once('error', reject);
      });
      expect(first).toBe('hello');
      const [span] = await waitForClientSpans(1);
      expect(span?.name).toBe('GET');
      expect(span?.attributes['http.response.status_code']).toBe(101);
      expect(span?.status).toEqual({ code: SpanStatusCode.UNSET });
      expect(span?.parentSpanContext?.spanId).toBe(CALLER_SPAN);
      expect(handshakes[0]?.traceparent).toBe(
        `00-${CALLER_TRACE}-${span?.spanContext().spanId}-01`,
      );
      ws.terminate();
    } finally {
      stop();
      for (const client of wss.clients) client.terminate();
      wss.close();
      await closeServer(wsServer);
    }
  });
});

describe('OpenTelemetry, the provider disabled again', () => {
  it('stops tracing at once: the client’s traceparent goes through unchanged', async () => {
    const gateway = track(createGateway({ routes: [{ path: '/x', target: upstream.url }] }));
    const h = await host((app) => app.use(gateway));
    await rawGet(h.port, '/x', [`traceparent: ${CALLER_TRACEPARENT}`]);
    const [span] = await waitForClientSpans(1);
    expect(rawHeaderValues('traceparent')).toEqual([
      `00-${CALLER_TRACE}-${span?.spanContext().spanId}-01`,
    ]);
    trace.disable();
    exporter.reset();
    await rawGet(h.port, '/x', [`traceparent: ${CALLER_TRACEPARENT}`]);
    expect(rawHeaderValues('traceparent')).toEqual([CALLER_TRACEPARENT]);
    // The response is over; a span would have ended with it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

/** The SDK's spans are ReadableSpans too (attributes, ended). */
function readable(span: Span | undefined): ReadableSpan & { ended: boolean } {
  return span as unknown as ReadableSpan & { ended: boolean };
}

function hrMs(time: [number, number]): number {
  return time[0] * 1000 + time[1] / 1e6;
}
