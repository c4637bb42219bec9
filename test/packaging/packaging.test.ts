// The packed tarball, installed into throwaway consumer projects as a user
// would install it: ESM, CommonJS and TypeScript, on Express 4 and Express 5.
// Each JavaScript consumer runs a real request through the gateway to a real
// upstream; the TypeScript consumer typechecks against the shipped types. The README's Quick
// start runs as written in each consumer, and its TypeScript variant typechecks.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const tsc = join(repo, 'node_modules/typescript/bin/tsc');
let workDir = '';
let tarball = '';

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'portcullis-pack-'));
  // Build first, then pack without lifecycle scripts so stdout is only npm's JSON.
  await run('npm', ['run', 'build'], { cwd: repo, maxBuffer: 16 * 1024 * 1024 });
  const { stdout } = await run(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir],
    { cwd: repo, maxBuffer: 16 * 1024 * 1024 },
  );
  const packed = JSON.parse(stdout) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  const first = packed[0];
  if (!first) throw new Error('npm pack reported nothing');
  tarball = join(workDir, first.filename);
  const files = first.files.map((f) => f.path);
  // Exactly the built entry points, their types, the docs the README links to (docs/, the
  // benchmark results) and the licence: no sources, tests or source maps (they would point at
  // sources the package does not ship).
  expect([...files].sort()).toEqual(
    [
      'CHANGELOG.md',
      'LICENSE',
      'README.md',
      'bench/RESULTS.md',
      'docs/authentication.md',
      'docs/configuration.md',
      'docs/decisions.md',
      'docs/forwarding.md',
      'docs/observability.md',
      'docs/paths-and-security.md',
      'docs/performance.md',
      'docs/rate-limiting.md',
      'dist/config.schema.json',
      'dist/index.cjs',
      'dist/index.d.cts',
      'dist/index.d.ts',
      'dist/index.js',
      'dist/metrics.cjs',
      'dist/metrics.d.cts',
      'dist/metrics.d.ts',
      'dist/metrics.js',
      'package.json',
    ].sort(),
  );
}, 180_000);

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** A consumer script: an upstream, an Express app with the gateway on /api, one request, checks, exit 0. */
const consumerBody = (load: string) => `${load}
const upstream = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ url: req.url, consumer: req.headers['x-consumer-id'] ?? null, key: req.headers['x-api-key'] ?? null }));
});
upstream.listen(0, '127.0.0.1', () => {
  const target = 'http://127.0.0.1:' + upstream.address().port;
  const gateway = createGateway({
    auth: { apiKey: { keys: [{ id: 'alice', hash: hashApiKey('secret-key') }] } },
    rateLimit: { limit: 2, window: '1m' },
    routes: [{ path: '/svc{/*path}', target, rewrite: '/{*path}' }],
  });
  const app = express();
  app.use('/api', gateway);
  const server = app.listen(0, '127.0.0.1', async () => {
    const base = 'http://127.0.0.1:' + server.address().port + '/api/svc/items?x=1';
    const fail = (msg) => { console.error(msg); process.exit(1); };
    const denied = await fetch(base);
    if (denied.status !== 401) fail('expected 401 without a key, got ' + denied.status);
    if (denied.headers.get('content-type') !== 'application/problem+json') fail('401 is not problem+json');
    const ok = await fetch(base, { headers: { 'x-api-key': 'secret-key' } });
    const body = await ok.json();
    if (ok.status !== 200) fail('expected 200 with the key, got ' + ok.status);
    if (body.url !== '/items?x=1' || body.consumer !== 'alice' || body.key !== null) fail('upstream saw ' + JSON.stringify(body));
    await fetch(base, { headers: { 'x-api-key': 'secret-key' } });
    const limited = await fetch(base, { headers: { 'x-api-key': 'secret-key' } });
    if (limited.status !== 429) fail('expected 429 on the third request, got ' + limited.status);
    let configError = false;
    try { createGateway({ routes: [{ path: '/x', target: 'ftp://nope' }] }); } catch (err) { configError = err instanceof GatewayConfigError && /routes\\[0\\]\\.target/.test(err.message); }
    if (!configError) fail('an invalid target did not throw GatewayConfigError naming routes[0].target');
    await gateway.close();
    server.close(); server.closeAllConnections();
    upstream.close(); upstream.closeAllConnections();
    console.log('consumer ok');
  });
});
`;

const ESM = consumerBody(
  "import http from 'node:http';\nimport express from 'express';\nimport { createGateway, hashApiKey, GatewayConfigError } from 'portcullis';",
);
const CJS = consumerBody(
  "const http = require('node:http');\nconst express = require('express');\nconst { createGateway, hashApiKey, GatewayConfigError } = require('portcullis');\n" +
    // The published JSON Schema resolves through the exports map.
    "const configSchema = require('portcullis/config.schema.json');\nif (configSchema.type !== 'object' || !configSchema.properties.routes) { console.error('config.schema.json is not the config schema'); process.exit(1); }",
);
/**
 * portcullis/metrics from a consumer: loading portcullis alone leaves prom-client unloaded; the
 * metrics entry counts a request of a gateway; its config errors are the core's
 * GatewayConfigError.
 */
const metricsBody = (loadCore: string, loadMetrics: string) => `${loadCore}
const promLoaded = () => Object.keys(require.cache).some((k) => k.includes('prom-client'));
const fail = (msg) => { console.error(msg); process.exit(1); };
if (promLoaded()) fail('loading portcullis loaded prom-client');
${loadMetrics}
if (!promLoaded()) fail('portcullis/metrics did not load prom-client');
let sameError = false;
try { prometheusMetrics({ prefix: '1bad' }); } catch (err) { sameError = err instanceof GatewayConfigError && err.field === 'prefix'; }
if (!sameError) fail('a metrics config error is not a GatewayConfigError of portcullis');
const metrics = prometheusMetrics({ registry: new Registry() });
const upstream = http.createServer((req, res) => res.end('ok'));
upstream.listen(0, '127.0.0.1', () => {
  const gateway = createGateway({ routes: [{ name: 'svc', path: '/svc', target: 'http://127.0.0.1:' + upstream.address().port }] });
  const app = express();
  app.use(gateway);
  app.get('/metrics', metrics.handler);
  const server = app.listen(0, '127.0.0.1', async () => {
    const base = 'http://127.0.0.1:' + server.address().port;
    if ((await fetch(base + '/svc')).status !== 200) fail('the gateway did not proxy');
    await new Promise((r) => setTimeout(r, 50));
    const scraped = await fetch(base + '/metrics');
    const text = await scraped.text();
    if (!text.includes('portcullis_requests_total{route="svc",method="GET",status="200"} 1')) fail('not counted: ' + text);
    await metrics.close();
    await gateway.close();
    server.close(); server.closeAllConnections();
    upstream.close(); upstream.closeAllConnections();
    console.log('metrics ok');
  });
});
`;

/**
 * A consumer that must print nothing on stderr: no deprecation or experimental warning on the
 * Node under test, for a request through portcullis' forwarder and one through
 * http-proxy-middleware (loaded through require(esm) from the CommonJS entry), a body streamed in
 * parts, and a WebSocket tunnel (raw sockets on both ends).
 */
const quietBody = (load: string) => `${load}
const fail = (msg) => { process.stdout.write('FAIL ' + msg + '\\n'); process.exit(1); };
const upstream = http.createServer((req, res) => {
  let bytes = 0;
  req.on('data', (c) => { bytes += c.length; });
  req.on('end', () => res.end(JSON.stringify({ url: req.url, bytes })));
});
upstream.on('upgrade', (req, socket) => {
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n');
  socket.on('data', (d) => socket.write(d));
  socket.on('end', () => socket.end());
  socket.on('error', () => {});
});
upstream.listen(0, '127.0.0.1', () => {
  const target = 'http://127.0.0.1:' + upstream.address().port;
  const gateway = createGateway({
    routes: [
      { path: '/svc{/*path}', target, rewrite: '/{*path}', websocket: true },
      { path: '/hpm{/*path}', target, rewrite: '/{*path}', proxy: { preserveHeaderKeyCase: true } },
    ],
  });
  const app = express();
  app.use('/api', gateway);
  const server = app.listen(0, '127.0.0.1', async () => {
    const stop = handleUpgrades(server, app);
    const port = server.address().port;
    const base = 'http://127.0.0.1:' + port + '/api';
    for (const prefix of ['/svc', '/hpm']) {
      const res = await fetch(base + prefix + '/items?x=1');
      const body = await res.json();
      if (res.status !== 200 || body.url !== '/items?x=1') fail(prefix + ' got ' + res.status + ' ' + JSON.stringify(body));
    }
    const streamed = await new Promise((resolve, reject) => {
      const req = http.request(base + '/svc/upload', { method: 'POST' }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve(JSON.parse(text)));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024, 97));
      setTimeout(() => { req.write(Buffer.alloc(64 * 1024, 98)); req.end(Buffer.alloc(64 * 1024, 99)); }, 30);
    });
    if (streamed.bytes !== 3 * 64 * 1024) fail('streamed body: ' + JSON.stringify(streamed));
    const echoed = await new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let got = '';
      socket.on('error', reject);
      socket.on('data', (d) => {
        got += d.toString('latin1');
        if (got.includes('\\r\\n\\r\\n') && !got.includes('ping')) socket.write('ping');
        if (got.endsWith('ping')) { socket.destroy(); resolve(got); }
      });
      socket.write('GET /api/svc/chat HTTP/1.1\\r\\nHost: x\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\n\\r\\n');
    });
    if (!echoed.startsWith('HTTP/1.1 101')) fail('tunnel: ' + echoed);
    stop();
    await gateway.close();
    server.close(); server.closeAllConnections();
    upstream.close(); upstream.closeAllConnections();
    console.log('quiet ok');
  });
});
`;

const METRICS_ESM = metricsBody(
  "import http from 'node:http';\nimport { createRequire } from 'node:module';\nimport express from 'express';\nimport { createGateway, GatewayConfigError } from 'portcullis';\nconst require = createRequire(import.meta.url);",
  "const { prometheusMetrics } = await import('portcullis/metrics');\nconst { Registry } = await import('prom-client');",
);
const METRICS_CJS = metricsBody(
  "const http = require('node:http');\nconst express = require('express');\nconst { createGateway, GatewayConfigError } = require('portcullis');",
  "const { prometheusMetrics } = require('portcullis/metrics');\nconst { Registry } = require('prom-client');",
);
const QUIET_ESM = quietBody(
  "import http from 'node:http';\nimport net from 'node:net';\nimport express from 'express';\nimport { createGateway, handleUpgrades } from 'portcullis';",
);
const QUIET_CJS = quietBody(
  "const http = require('node:http');\nconst net = require('node:net');\nconst express = require('express');\nconst { createGateway, handleUpgrades } = require('portcullis');",
);

/**
 * OpenTelemetry from a consumer that installed @opentelemetry/api and an SDK: the gateway finds
 * the API from the ES module and the CommonJS build alike (the host registers through its own
 * copy of the API), makes a CLIENT span for the upstream attempt and sends its context upstream.
 */
const otelBody = (load: string) => `${load}
const fail = (msg) => { process.stdout.write('FAIL ' + msg + '\\n'); process.exit(1); };
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
const callerParent = '00-' + callerTrace + '-00f067aa0ba902b7-01';
let seen = [];
const upstream = http.createServer((req, res) => { seen.push(req.headers.traceparent); res.end('ok'); });
upstream.listen(0, '127.0.0.1', () => {
  const gateway = createGateway({ routes: [{ path: '/svc{/*path}', target: 'http://127.0.0.1:' + upstream.address().port, rewrite: '/{*path}' }] });
  const app = express();
  app.use('/api', gateway);
  const server = app.listen(0, '127.0.0.1', async () => {
    const url = 'http://127.0.0.1:' + server.address().port + '/api/svc/items?x=1';
    // Before a provider is registered: no span, the caller's traceparent unchanged.
    await fetch(url, { headers: { traceparent: callerParent } });
    if (seen[0] !== callerParent) fail('without a provider the upstream saw ' + seen[0]);
    trace.setGlobalTracerProvider(provider);
    const res = await fetch(url, { headers: { traceparent: callerParent } });
    if (res.status !== 200) fail('status ' + res.status);
    await res.text();
    await new Promise((r) => setTimeout(r, 50));
    const spans = exporter.getFinishedSpans();
    if (spans.length !== 1) fail('expected one span, got ' + spans.length);
    const span = spans[0];
    if (span.kind !== SpanKind.CLIENT || span.name !== 'GET') fail('span ' + span.kind + ' ' + span.name);
    if (span.attributes['url.full'] !== 'http://127.0.0.1:' + upstream.address().port + '/items') fail('url.full ' + span.attributes['url.full']);
    if (span.spanContext().traceId !== callerTrace) fail('not in the caller trace');
    if (seen[1] !== '00-' + callerTrace + '-' + span.spanContext().spanId + '-01') fail('upstream saw ' + seen[1]);
    await gateway.close();
    server.close(); server.closeAllConnections();
    upstream.close(); upstream.closeAllConnections();
    await provider.shutdown();
    console.log('otel ok');
  });
});
`;
const OTEL_ESM = otelBody(
  "import http from 'node:http';\nimport express from 'express';\nimport { createGateway } from 'portcullis';\nimport { context, propagation, trace, SpanKind } from '@opentelemetry/api';\nimport { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';\nimport { W3CTraceContextPropagator } from '@opentelemetry/core';\nimport { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';",
);
const OTEL_CJS = otelBody(
  "const http = require('node:http');\nconst express = require('express');\nconst { createGateway } = require('portcullis');\nconst { context, propagation, trace, SpanKind } = require('@opentelemetry/api');\nconst { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');\nconst { W3CTraceContextPropagator } = require('@opentelemetry/core');\nconst { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');",
);

/**
 * The README's setup with @opentelemetry/instrumentation-http (CommonJS, so its require hook
 * patches node:http for portcullis' CommonJS build): concurrent requests, each gateway CLIENT
 * span under its own request's server span, which carries http.route. With the instrumentation's
 * outgoing spans on (argv 'nested'), its client span nests under the gateway's and the upstream
 * sees that one; with `disableOutgoingRequestInstrumentation` the upstream sees the gateway's.
 */
const INSTRUMENTED_CJS = `const { context, propagation, trace, SpanKind } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const nested = process.argv[2] === 'nested';
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(provider);
registerInstrumentations({
  instrumentations: [new HttpInstrumentation(nested ? {} : { disableOutgoingRequestInstrumentation: true })],
});
const http = require('node:http');
const express = require('express');
const { createGateway } = require('portcullis');
const fail = (msg) => { process.stdout.write('FAIL ' + msg + '\\n'); process.exit(1); };
const seen = new Map();
const upstream = http.createServer((req, res) => { seen.set(req.url, req.headers.traceparent); res.end('ok'); });
upstream.listen(0, '127.0.0.1', () => {
  const gateway = createGateway({ routes: [{ path: '/svc{/*path}', target: 'http://127.0.0.1:' + upstream.address().port, rewrite: '/{*path}' }] });
  const app = express();
  app.use('/api', gateway);
  const server = app.listen(0, '127.0.0.1', async () => {
    const base = 'http://127.0.0.1:' + server.address().port + '/api/svc/';
    const ids = ['a', 'b', 'c', 'd'];
    await Promise.all(ids.map((id) => fetch(base + id).then((r) => r.text())));
    await new Promise((r) => setTimeout(r, 100));
    const spans = exporter.getFinishedSpans();
    for (const id of ids) {
      const ours = spans.find((s) => s.instrumentationScope.name === 'portcullis' && s.attributes['url.full'].endsWith('/' + id));
      if (!ours) fail('no gateway span for ' + id);
      const server = spans.find((s) => s.spanContext().spanId === ours.parentSpanContext?.spanId);
      if (!server || server.kind !== SpanKind.SERVER || server.attributes['http.route'] !== '/svc{/*path}') fail('parent of ' + id + ' is not its server span with http.route');
      if (server.attributes['url.path'] !== '/api/svc/' + id) fail('span of ' + id + ' under the server span of ' + server.attributes['url.path']);
      const below = spans.filter((s) => s.parentSpanContext?.spanId === ours.spanContext().spanId && s.kind === SpanKind.CLIENT);
      const expected = nested ? below[0]?.spanContext().spanId : ours.spanContext().spanId;
      if (below.length !== (nested ? 1 : 0)) fail(id + ': ' + below.length + ' client spans below the gateway span');
      if (seen.get('/' + id) !== '00-' + ours.spanContext().traceId + '-' + expected + '-01') fail(id + ': upstream saw ' + seen.get('/' + id));
    }
    await gateway.close();
    server.close(); server.closeAllConnections();
    upstream.close(); upstream.closeAllConnections();
    await provider.shutdown();
    console.log('instrumented ok');
  });
});
`;

const TS = `import express from 'express';
import { createGateway, rateLimit, authenticate, route, MemoryStore, GatewayConfigError, type GatewayConfig, type Principal, type RateLimitDecision } from 'portcullis';
import { prometheusMetrics, type PrometheusMetrics } from 'portcullis/metrics';
import { Registry } from 'prom-client';

const config: GatewayConfig = {
  auth: { apiKey: { keys: [{ id: 'alice', key: 'k' }] } },
  rateLimit: { limit: 5, window: '1m', store: new MemoryStore({ maxKeys: 10 }) },
  routes: [{ path: '/svc{/*path}', target: 'http://127.0.0.1:1', rewrite: '/{*path}', auth: { scopes: ['read'] } }],
};
const app = express();
app.use('/api', createGateway(config));
app.use(authenticate({ apiKey: { keys: [{ id: 'bob', key: 'b' }] } }), rateLimit({ limit: 1, window: 1000 }), route({ path: '/x', target: 'http://127.0.0.1:1' }));
app.get('/me', (req, res) => {
  const principal: Principal | undefined = req.gateway?.principal;
  const decisions: RateLimitDecision[] | undefined = req.gateway?.rateLimit;
  res.json({ id: principal?.id, remaining: decisions?.[0]?.remaining, requestId: req.gateway?.requestId });
});
const err: GatewayConfigError = new GatewayConfigError('x', 'y');
void err.code;
void err.issues[0]?.field;
// Exactly one JWT key source, one of key or hash: TypeScript refuses two.
const twoSources: GatewayConfig = {
  // @ts-expect-error publicKey and jwksUri together
  auth: { jwt: { algorithms: ['RS256'], publicKey: 'pem', jwksUri: 'https://idp.example/jwks' } },
  routes: [{ path: '/x', target: 'http://127.0.0.1:1' }],
};
void twoSources;
const metrics: PrometheusMetrics = prometheusMetrics({ registry: new Registry(), prefix: 'edge_', buckets: [0.1, 1] });
app.get('/metrics', metrics.handler);
const registry: Registry = metrics.registry;
void registry;
void metrics.close();
`;

/** The README's Quick start: its demo upstream (`node -e "…"` with `$port`) and its `server.mjs`. */
const quickStart = (() => {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.split('\n## Quick start\n')[1]?.split('\n## ')[0] ?? '';
  const upstream = /node -e "(.*)" &/.exec(section)?.[1];
  const server = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!upstream || !server)
    throw new Error('README: no Quick start with a node -e upstream and a js block');
  return { section, upstream, server };
})();

/** A port that was free a moment ago (the Quick start's fixed ports may be taken on a shared machine). */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** Replaces `from` in `text`, failing when the README no longer has it. */
function swap(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`README Quick start: '${from}' not found`);
  return text.replaceAll(from, to);
}

/** Resolves with the first stdout/stderr text of `child` that matches, or rejects when it exits. */
function output(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolveOut, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (pattern.test(text)) resolveOut(text);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${text}`)));
  });
}

/**
 * A throwaway consumer project `consumer-<name>` in the work directory: the packed tarball and
 * `packages` installed by npm as a user would, then `files` written into it. Returns its path.
 */
async function installConsumer(
  name: string,
  packages: string[],
  files: Record<string, string>,
): Promise<string> {
  const dir = join(workDir, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: `consumer-${name}`, private: true }),
  );
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...packages],
    {
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

/**
 * Runs `node <script>` in `dir` on the Node under test with its own environment only (no
 * NODE_OPTIONS of the test runner), asserts it wrote nothing to stderr, and returns its stdout.
 */
async function runQuietly(dir: string, script: string): Promise<string> {
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const { stdout, stderr } = await run(process.execPath, [script], { cwd: dir, env });
  expect(stderr).toBe('');
  return stdout;
}

function consumer(expressMajor: 4 | 5): Promise<string> {
  const typesMajor = expressMajor === 5 ? '^5' : '^4';
  return installConsumer(
    `express${expressMajor}`,
    [
      `express@^${expressMajor}`,
      'prom-client@^15',
      `@types/express@${typesMajor}`,
      '@types/node@^22',
    ],
    {
      'esm.mjs': ESM,
      'cjs.cjs': CJS,
      'metrics.mjs': METRICS_ESM,
      'metrics.cjs': METRICS_CJS,
      'quiet.mjs': QUIET_ESM,
      'quiet.cjs': QUIET_CJS,
      'consumer.ts': TS,
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
        },
        files: ['consumer.ts'],
      }),
    },
  );
}

describe.each([4, 5] as const)('the packed tarball with Express %i', (major) => {
  let dir = '';
  beforeAll(async () => {
    dir = await consumer(major);
  }, 240_000);

  it('works from an ES module consumer', async () => {
    const { stdout } = await run(process.execPath, ['esm.mjs'], { cwd: dir });
    expect(stdout).toContain('consumer ok');
  }, 60_000);

  it('works from a CommonJS consumer', async () => {
    const { stdout } = await run(process.execPath, ['cjs.cjs'], { cwd: dir });
    expect(stdout).toContain('consumer ok');
  }, 60_000);

  it('portcullis/metrics from ES module and CommonJS consumers; portcullis alone never loads prom-client', async () => {
    for (const file of ['metrics.mjs', 'metrics.cjs']) {
      const { stdout } = await run(process.execPath, [file], { cwd: dir });
      expect(stdout, file).toContain('metrics ok');
    }
  }, 60_000);
  it.each(['quiet.mjs', 'quiet.cjs'])(
    'prints no warning on this Node for a request, a streamed body and a WebSocket (%s)',
    async (script) => {
      expect(await runQuietly(dir, script)).toContain('quiet ok');
    },
    60_000,
  );

  it('runs the README Quick start as written: public 200, private 401 → 200 with the key → 429 on the 6th', async () => {
    const [gatewayPort, publicPort, privatePort] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    let server = swap(quickStart.server, 'localhost:8081', `localhost:${publicPort}`);
    server = swap(server, 'localhost:8082', `localhost:${privatePort}`);
    server = swap(server, 'app.listen(8080', `app.listen(${gatewayPort}`);
    await writeFile(join(dir, 'server.mjs'), server);
    const children: ChildProcess[] = [];
    try {
      for (const port of [publicPort, privatePort]) {
        const upstream = spawn(process.execPath, [
          '-e',
          quickStart.upstream.replaceAll('$port', String(port)),
        ]);
        children.push(upstream);
      }
      // Without ALICE_KEY the gateway refuses to start, naming the key.
      const { ALICE_KEY: _unset, ...envWithout } = process.env;
      const refused = spawn(process.execPath, ['server.mjs'], { cwd: dir, env: envWithout });
      children.push(refused);
      await expect(output(refused, /(?!)/)).rejects.toThrow(
        /GatewayConfigError[\s\S]*auth\.apiKey\.keys\[0\]\.key: [^\n]*got undefined — is the environment variable set\?/,
      );

      const key = 'quick-start-key-0123456789abcdef';
      const gateway = spawn(process.execPath, ['server.mjs'], {
        cwd: dir,
        env: { ...process.env, ALICE_KEY: key },
      });
      children.push(gateway);
      await output(gateway, /gateway on http:\/\/localhost:\d+\/api/);
      const base = `http://localhost:${gatewayPort}/api`;

      const open = await fetch(`${base}/public/hello`);
      expect(open.status).toBe(200);
      expect(((await open.json()) as { url: string }).url).toBe('/hello');

      const anonymous = await fetch(`${base}/private/orders`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe(
        'ApiKey realm="api", header="x-api-key"',
      );
      expect(((await anonymous.json()) as { code: string }).code).toBe('unauthorized');

      const withKey = await fetch(`${base}/private/orders`, { headers: { 'x-api-key': key } });
      expect(withKey.status).toBe(200);
      expect(withKey.headers.get('ratelimit')).toBe('"5-in-1m";r=4;t=12');
      const seen = (await withKey.json()) as { url: string; headers: Record<string, string> };
      expect(seen.url).toBe('/orders');
      expect(seen.headers['x-consumer-id']).toBe('alice');
      expect(seen.headers['x-consumer-type']).toBe('apiKey');
      expect(seen.headers['x-api-key']).toBeUndefined();

      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 2; i <= 6; i++) {
        last = await fetch(`${base}/private/orders`, { headers: { 'x-api-key': key } });
        statuses.push(last.status);
        await last.arrayBuffer();
      }
      expect(statuses).toEqual([200, 200, 200, 200, 429]);
      expect(last?.headers.get('retry-after')).toBe('12');
    } finally {
      for (const child of children) child.kill();
    }
  }, 60_000);

  it("typechecks the README Quick start's TypeScript variant with the tsconfig the README gives", async () => {
    expect(quickStart.section).toContain('key: process.env.ALICE_KEY!');
    await writeFile(
      join(dir, 'server.ts'),
      swap(quickStart.server, 'key: process.env.ALICE_KEY }', 'key: process.env.ALICE_KEY! }'),
    );
    const tsconfig = /`(\{ "compilerOptions": .*? \})`/.exec(quickStart.section)?.[1];
    expect(tsconfig).toBeDefined();
    await writeFile(
      join(dir, 'tsconfig.readme.json'),
      JSON.stringify({ ...JSON.parse(tsconfig as string), files: ['server.ts'] }),
    );
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.readme.json', '--noEmit'], {
      cwd: dir,
    }).catch((err: { stdout?: string; stderr?: string }) => err);
    expect('stdout' in result ? result.stdout : '').toBe('');
  }, 120_000);

  it('typechecks a TypeScript consumer against the shipped declarations', async () => {
    const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir }).catch(
      (err: { stdout?: string; stderr?: string }) => err,
    );
    expect('stdout' in result ? result.stdout : '').toBe('');
  }, 120_000);
});

describe('the packed tarball without @opentelemetry/api (an optional peer)', () => {
  let dir = '';
  beforeAll(async () => {
    // No prom-client either: prom-client 15 depends on @opentelemetry/api itself.
    dir = await installConsumer('bare', ['express@^5'], { 'esm.mjs': ESM, 'cjs.cjs': CJS });
  }, 240_000);

  it.each(['esm.mjs', 'cjs.cjs'])(
    'loads and proxies (%s)',
    async (script) => {
      expect(existsSync(join(dir, 'node_modules/@opentelemetry/api'))).toBe(false);
      expect(await runQuietly(dir, script)).toContain('consumer ok');
    },
    60_000,
  );
});

describe('the packed tarball with OpenTelemetry installed', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await installConsumer(
      'otel',
      [
        'express@^5',
        '@opentelemetry/api@^1.10.0',
        '@opentelemetry/sdk-trace@^3',
        '@opentelemetry/context-async-hooks@^3',
        '@opentelemetry/core@^3',
        '@opentelemetry/instrumentation@^0.301.0',
        '@opentelemetry/instrumentation-http@^0.301.0',
      ],
      { 'otel.mjs': OTEL_ESM, 'otel.cjs': OTEL_CJS, 'instrumented.cjs': INSTRUMENTED_CJS },
    );
  }, 240_000);

  it.each(['otel.mjs', 'otel.cjs'])(
    'finds @opentelemetry/api from the build a consumer loads, quietly (%s)',
    async (script) => {
      expect(await runQuietly(dir, script)).toContain('otel ok');
    },
    60_000,
  );

  it.each(['nested', 'disabled'])(
    'nests under @opentelemetry/instrumentation-http server spans, request by request (outgoing %s)',
    async (mode) => {
      const { stdout } = await run(process.execPath, ['instrumented.cjs', mode], { cwd: dir });
      expect(stdout).toContain('instrumented ok');
    },
    60_000,
  );
});
