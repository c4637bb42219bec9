import { createHash, randomBytes } from 'node:crypto';
import { type IncomingMessage, request } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import express5 from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { routeCollector } from '../helpers/route-set.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait-for.js';

const FIVE_MB = 5 * 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A raw TCP "upstream" that records what it got and answers with the given bytes. */
async function rawUpstream(
  answer: Buffer | string,
): Promise<{ server: NetServer; port: number; got: string[] }> {
  const got: string[] = [];
  const server = createNetServer((socket) => {
    socket.once('data', (d) => {
      got.push(d.toString('latin1'));
      socket.end(answer);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, port, got };
}

describe.each(EXPRESS_MAJORS)('route() streams and failures on Express %i', (major) => {
  let upstream: Upstream;
  let streaming: Upstream;
  let host: Host;
  const middlewares: GatewayMiddleware[] = [];
  const events: GatewayEvent[] = [];
  const raws: NetServer[] = [];
  let garbage: Awaited<ReturnType<typeof rawUpstream>>;
  let overflow: Awaited<ReturnType<typeof rawUpstream>>;
  let streamingHandler: (req: IncomingMessage, res: import('node:http').ServerResponse) => void =
    () => {};

  beforeAll(async () => {
    upstream = await startUpstream();
    streaming = await startUpstream({ rawHandler: (req, res) => streamingHandler(req, res) });
    garbage = await rawUpstream('this is not HTTP at all\r\n\r\n');
    overflow = await rawUpstream(
      `HTTP/1.1 200 OK\r\nX-Huge: ${'a'.repeat(20 * 1024)}\r\nContent-Length: 2\r\n\r\nok`,
    );
    raws.push(garbage.server, overflow.server);
    const add = routeCollector(events, middlewares);
    host = await startHost((app) => {
      app.use(add({ path: '/echo', target: upstream.url }));
      app.use(add({ path: '/stream', target: streaming.url, timeout: '400ms' }));
      app.use(add({ path: '/garbage', target: `http://127.0.0.1:${garbage.port}` }));
      app.use(add({ path: '/overflow', target: `http://127.0.0.1:${overflow.port}` }));
      // Body parsers mounted before the gateway consume the stream; the gateway re-sends what they parsed.
      const parsed = express5.Router();
      parsed.use(express5.json(), express5.urlencoded({ extended: false }), express5.text());
      parsed.use(express5.raw({ type: 'application/octet-stream' }));
      parsed.use(add({ path: '/parsed', target: upstream.url }));
      app.use('/p', parsed);
    }, major);
  });

  afterAll(async () => {
    await closeAll(middlewares, host, upstream, streaming);
    for (const s of raws) await new Promise((r) => s.close(r));
  });

  afterEach(() => {
    upstream.received.length = 0;
    streaming.received.length = 0;
    events.length = 0;
  });

  it('streams a 5 MB upload intact, and the upstream starts receiving before the client has finished', async () => {
    const payload = randomBytes(FIVE_MB);
    let upstreamBytes = 0;
    let bodyHash = '';
    streamingHandler = (req, res) => {
      const hash = createHash('sha256');
      req.on('data', (c: Buffer) => {
        upstreamBytes += c.length;
        hash.update(c);
      });
      req.on('end', () => {
        bodyHash = hash.digest('hex');
        res.end('stored');
      });
    };
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${host.url}/stream`,
        { method: 'PUT', headers: { 'content-length': FIVE_MB } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.write(payload.subarray(0, 1024 * 1024));
      // Not buffered whole: the first megabyte reaches the upstream while the rest is unsent.
      waitFor(() => upstreamBytes > 0, 'first upload bytes upstream', 5_000).then(
        () => req.end(payload.subarray(1024 * 1024)),
        reject,
      );
    });
    expect(status).toBe(200);
    expect(upstreamBytes).toBe(FIVE_MB);
    expect(bodyHash).toBe(sha256(payload));
    expect(streaming.received[0]?.headers['content-length']).toBe(String(FIVE_MB));
  });

  it('streams a 5 MB download intact, and the client receives before the upstream has finished', async () => {
    const payload = randomBytes(FIVE_MB);
    let clientBytes = 0;
    streamingHandler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(payload.subarray(0, 1024 * 1024));
      waitFor(() => clientBytes > 0, 'first download bytes at the client', 5_000).then(
        () => res.end(payload.subarray(1024 * 1024)),
        () => res.destroy(),
      );
    };
    const res = await fetch(`${host.url}/stream`);
    expect(res.status).toBe(200);
    const chunks: Buffer[] = [];
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      clientBytes += chunk.length;
      chunks.push(Buffer.from(chunk));
    }
    const body = Buffer.concat(chunks);
    expect(body.length).toBe(FIVE_MB);
    expect(sha256(body)).toBe(sha256(payload));
    expect(streaming.received).toHaveLength(1);
  });

  it('aborts the upstream request when the client disconnects', async () => {
    let upstreamClosed = false;
    streamingHandler = (req, res) => {
      // Never answers; notices when the gateway gives up on it.
      res.on('close', () => {
        upstreamClosed = true;
      });
      req.resume();
    };
    const clientReq = request(`${host.url}/stream`);
    clientReq.on('error', () => {});
    clientReq.end();
    await waitFor(() => streaming.received.length === 1, 'the upstream request', 5_000);
    clientReq.destroy();
    await waitFor(() => upstreamClosed, 'upstream request closed', 2_000);
    expect(upstreamClosed).toBe(true);
    await waitFor(() => events.some((e) => e.type === 'proxy.error'), 'proxy.error', 5_000);
    expect(events.find((e) => e.type === 'proxy.error')).toMatchObject({ code: 'client_aborted' });
  });

  it('ends the client response when the upstream dies mid-response (never a hang)', async () => {
    streamingHandler = (_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 50);
    };
    const outcome = await new Promise<string>((resolve) => {
      request(`${host.url}/stream`, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve('ended'));
        res.on('error', () => resolve('cut'));
        res.on('aborted', () => resolve('cut'));
      })
        .on('error', () => resolve('cut'))
        .end();
    });
    expect(outcome).toBe('cut');
    expect(streaming.received).toHaveLength(1);
    await waitFor(() => events.some((e) => e.type === 'proxy.error'), 'proxy.error', 5_000);
    expect(events.find((e) => e.type === 'proxy.error')).toMatchObject({
      code: 'response_aborted',
      status: 200,
    });
  });

  it('cuts a response whose body stalls longer than timeout', async () => {
    streamingHandler = (_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('start');
    };
    const started = Date.now();
    const outcome = await new Promise<string>((resolve) => {
      request(`${host.url}/stream`, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve('ended'));
        res.on('error', () => resolve('cut'));
      })
        .on('error', () => resolve('cut'))
        .end();
    });
    expect(outcome).toBe('cut');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(streaming.received).toHaveLength(1);
  });

  it('answers 502 to a malformed upstream response and to headers over Node’s limit', async () => {
    const bad = await fetch(`${host.url}/garbage`);
    expect(bad.status).toBe(502);
    expect(((await bad.json()) as { code: string }).code).toBe('bad_gateway');
    expect(garbage.got[0]).toMatch(/^GET \/garbage HTTP\/1\.1\r\n/);
    const huge = await fetch(`${host.url}/overflow`);
    expect(huge.status).toBe(502);
    expect(overflow.got).toHaveLength(1);
    const reasons = events
      .filter((e) => e.type === 'proxy.error')
      .map((e) => ('error' in e ? e.error : ''));
    expect(reasons.some((r) => r.includes('HPE_'))).toBe(true);
  });

  it('re-sends a body a body parser consumed before the gateway (JSON, form, text, raw)', async () => {
    const json = JSON.stringify({ name: 'zoë', n: [1, 2] });
    const cases: Array<[string, string | Buffer]> = [
      ['application/json', json],
      ['application/x-www-form-urlencoded', 'a=1&b=two%20words'],
      ['text/plain', 'plain text body'],
      ['application/octet-stream', randomBytes(2048)],
    ];
    for (const [type, body] of cases) {
      const res = await fetch(`${host.url}/p/parsed`, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
      });
      expect(res.status, type).toBe(200);
    }
    expect(upstream.received.map((r) => r.headers['content-type'])).toEqual(cases.map(([t]) => t));
    expect(JSON.parse(upstream.received[0]?.body.toString() ?? '')).toEqual(JSON.parse(json));
    expect(upstream.received[1]?.body.toString()).toBe('a=1&b=two%20words');
    expect(upstream.received[2]?.body.toString()).toBe('plain text body');
    expect(upstream.received[3]?.bodySha256).toBe(sha256(cases[3]?.[1] as Buffer));
    for (const r of upstream.received) {
      expect(r.headers['content-length']).toBe(String(r.body.length));
    }
  });
});
