import { createHash, randomBytes } from 'node:crypto';
import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RouteProxyOptions } from '../../src/schema/route.js';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { rawRequest } from '../helpers/raw-http.js';
import { routeCollector } from '../helpers/route-set.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * portcullis' own forwarder (src/route/forwarder.ts) against real sockets, and the same checks on
 * a route with a `proxy` option, which forwards through http-proxy-middleware 4 ("fallback"): both
 * must behave alike. Which one served a request is checked after every test through
 * http-proxy-middleware's own events: the fallback routes' `proxy.on` listeners count its upstream
 * requests and responses; a route without `proxy` options must never raise one.
 */
const passes = { hpmProxyReq: 0, hpmProxyRes: 0 };

const MB = 1024 * 1024;
const BIG = 32 * MB;
const CHUNK = 64 * 1024;
const BIG_PAYLOAD = randomBytes(BIG);
const BIG_SHA = sha256(BIG_PAYLOAD);

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Waits until `read()` has not changed for `quietMs` (or `timeoutMs` passed); returns its value. */
async function whenSteady(read: () => number, quietMs: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let last = read();
  let since = Date.now();
  while (Date.now() - started < timeoutMs) {
    await sleep(20);
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
  }
  return last;
}

/**
 * Writes `BIG_PAYLOAD`'s first `size` bytes in CHUNK pieces, honouring `write()`'s backpressure
 * (waits for 'drain'), then calls `done` (default: end the response). `up` counts what was sent.
 */
function pumpPayload(
  res: ServerResponse,
  size: number,
  up: { sent: number; waitingForDrain: boolean; falseWrites: number } = {
    sent: 0,
    waitingForDrain: false,
    falseWrites: 0,
  },
  done: () => void = () => res.end(),
): void {
  const pump = (): void => {
    up.waitingForDrain = false;
    while (up.sent < size) {
      const chunk = BIG_PAYLOAD.subarray(up.sent, up.sent + CHUNK);
      up.sent += chunk.length;
      if (!res.write(chunk)) {
        up.falseWrites++;
        up.waitingForDrain = true;
        res.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

/** How a response body ended: 'ended' normally, 'cut' (aborted/error), or 'hang' after `hangMs`. */
function howItEnds(
  res: IncomingMessage,
  hangMs: number,
): Promise<{ how: 'ended' | 'cut' | 'hang'; bytes: number }> {
  return new Promise((resolve) => {
    let bytes = 0;
    const timer = setTimeout(() => resolve({ how: 'hang', bytes }), hangMs);
    const done = (how: 'ended' | 'cut') => (): void => {
      clearTimeout(timer);
      resolve({ how, bytes });
    };
    res.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    res.on('end', done('ended'));
    res.on('aborted', done('cut'));
    res.on('error', done('cut'));
    res.resume();
  });
}

/** Starts a request through Node's client and resolves with the response head (body unread). */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string> } = {},
  body?: Buffer | string,
): Promise<{ req: ReturnType<typeof request>; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, ...options }, (res) => resolve({ req, res }));
    req.on('error', reject);
    req.end(body);
  });
}

/** Writes one byte every 200 ms and ends the stream with the `parts`-th; returns the interval. */
function trickle(stream: Writable, parts: number): NodeJS.Timeout {
  let written = 0;
  const timer = setInterval(() => {
    if (++written === parts) {
      clearInterval(timer);
      stream.end('x');
    } else stream.write('x');
  }, 200);
  return timer;
}

function readAll(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.resume();
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

interface RawExchange {
  statusLine: string;
  /** Header lines as received, name lower-cased, in order (duplicates kept). */
  headers: Array<[string, string]>;
  body: string;
}

/**
 * Writes pipelined requests on one connection (the last one should close it) and splits what
 * comes back by HTTP/1.1 framing: no body for HEAD, 1xx, 204 and 304, else Content-Length or
 * chunked. Throws when a response is malformed or bytes are left over after the last one.
 */
function rawExchanges(port: number, requests: string[], methods: string[]): Promise<RawExchange[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('pipelined exchange timed out'));
    }, 8_000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(splitResponses(Buffer.concat(chunks).toString('latin1'), methods));
      } catch (err) {
        reject(err);
      }
    });
    socket.write(requests.join(''));
  });
}

function splitResponses(raw: string, methods: string[]): RawExchange[] {
  const out: RawExchange[] = [];
  let rest = raw;
  for (const method of methods) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd === -1) throw new Error(`response ${out.length + 1} has no complete head: ${rest}`);
    const [statusLine = '', ...lines] = rest.slice(0, headEnd).split('\r\n');
    rest = rest.slice(headEnd + 4);
    const headers = lines.map((line): [string, string] => {
      const i = line.indexOf(':');
      return [line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()];
    });
    const get = (name: string): string | undefined => headers.find(([n]) => n === name)?.[1];
    const status = Number(statusLine.split(' ')[1]);
    let body = '';
    if (method === 'HEAD' || status === 204 || status === 304 || status < 200) {
      body = '';
    } else if (get('transfer-encoding') === 'chunked') {
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        const size = Number.parseInt(rest.slice(0, lineEnd), 16);
        if (lineEnd === -1 || Number.isNaN(size)) throw new Error(`bad chunk: ${rest}`);
        body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
        rest = rest.slice(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
    } else if (get('content-length') !== undefined) {
      const length = Number(get('content-length'));
      body = rest.slice(0, length);
      rest = rest.slice(length);
    } else {
      body = rest;
      rest = '';
    }
    out.push({ statusLine, headers, body });
  }
  if (rest !== '') throw new Error(`bytes after the last response: ${JSON.stringify(rest)}`);
  return out;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the default upstream handler saw of each request. */
interface Seen {
  method: string;
  url: string;
  httpVersion: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
}

/** `direct`: a route without `proxy` options (our forwarder); `fallback`: one with `proxy.on` listeners (http-proxy-middleware). */
const MODES = ['direct', 'fallback'] as const;

describe.each(EXPRESS_MAJORS)('route() both senders on Express %i', (major) => {
  let upstream: Upstream;
  let host: Host;
  const events: GatewayEvent[] = [];
  const middlewares: GatewayMiddleware[] = [];
  const seen: Seen[] = [];
  let upstreamConnections = 0;
  /** A raw upstream whose connections answer one request and hang up on the next (a stale pooled socket). */
  let oneShot: NetServer;
  const oneShotSeen = { connections: 0, requests: 0 };
  const oneShotSockets = new Set<Socket>();

  const echo: Handler = (req, res) => {
    readBody(req).then((body) => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      const answer = JSON.stringify({ url: req.url, length: body.length, sha: sha256(body) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(answer);
    });
  };
  let handler: Handler = echo;

  beforeAll(async () => {
    upstream = await startUpstream({ rawHandler: (req, res) => handler(req, res) });
    upstream.server.on('connection', () => {
      upstreamConnections++;
    });
    oneShot = createNetServer((socket) => {
      oneShotSeen.connections++;
      oneShotSockets.add(socket);
      socket.on('close', () => oneShotSockets.delete(socket));
      let answered = false;
      socket.on('data', (data) => {
        oneShotSeen.requests += data.toString('latin1').split('\r\n\r\n').length - 1;
        if (answered) socket.destroy();
        else {
          answered = true;
          socket.write(
            'HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\nanswer!',
          );
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => oneShot.listen(0, '127.0.0.1', resolve));
    const oneShotPort = (oneShot.address() as AddressInfo).port;
    const add = routeCollector(events, middlewares);
    const fallbackProxy: RouteProxyOptions = {
      on: {
        proxyReq: () => {
          passes.hpmProxyReq++;
        },
        proxyRes: () => {
          passes.hpmProxyRes++;
        },
      },
    };
    host = await startHost((app) => {
      for (const mode of MODES) {
        const proxy = mode === 'direct' ? undefined : fallbackProxy;
        app.use(add({ name: mode, path: `/${mode}{/*rest}`, target: upstream.url, proxy }));
        app.use(
          add({
            name: `${mode}-auth`,
            path: `/${mode}-auth{/*rest}`,
            target: `http://user:pa%3Ass@127.0.0.1:${upstream.port}`,
            proxy,
          }),
        );
        app.use(
          add({
            name: `${mode}-stale`,
            path: `/${mode}-stale{/*rest}`,
            target: `http://127.0.0.1:${oneShotPort}`,
            proxy,
          }),
        );
        app.use(
          add({
            name: `${mode}-patient`,
            path: `/${mode}-patient{/*rest}`,
            target: upstream.url,
            timeout: '700ms',
            proxy,
          }),
        );
        app.use(
          add({
            name: `${mode}-based`,
            path: `/${mode}-based{/*rest}`,
            target: `${upstream.url}/base/`,
            proxy,
          }),
        );
      }
    }, major);
  });

  afterAll(async () => {
    await closeAll(middlewares, host, upstream);
    for (const socket of oneShotSockets) socket.destroy();
    await new Promise((resolve) => oneShot.close(resolve));
  });

  describe.each(MODES)('%s', (mode) => {
    const direct = mode === 'direct';
    const base = (): string => `${host.url}/${mode}`;
    let before = { ...passes };

    beforeEach(() => {
      handler = echo;
      seen.length = 0;
      events.length = 0;
      before = { ...passes };
    });

    afterEach(() => {
      // The request(s) of the test went through the way of sending this describe block is about.
      if (direct) {
        expect(passes, 'http-proxy-middleware events').toEqual(before);
      } else {
        expect(passes.hpmProxyReq, 'http-proxy-middleware proxyReq events').toBeGreaterThan(
          before.hpmProxyReq,
        );
      }
    });

    const errorsOf = (name: string): GatewayEvent[] =>
      events.filter((e) => e.type === 'proxy.error' && e.route === name);

    it('relays a 32 MB download intact while a slow client holds the upstream back (backpressure)', async () => {
      const up = { sent: 0, waitingForDrain: false, falseWrites: 0 };
      handler = (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(BIG),
        });
        pumpPayload(res, BIG, up);
      };
      const { res } = await send(`${base()}/big`);
      res.pause();
      await sleep(300);
      // Everything the buffers between the upstream and the paused client could take is sent by now.
      const sentWhilePaused = await whenSteady(() => up.sent, 150, 3_000);
      const waitingWhilePaused = up.waitingForDrain;
      const falseWritesWhilePaused = up.falseWrites;
      const body = await readAll(res);

      expect(res.statusCode).toBe(200);
      expect(res.headers['content-length']).toBe(String(BIG));
      expect(body.length).toBe(BIG);
      expect(sha256(body)).toBe(BIG_SHA);
      // The upstream was held back by its own write() while the client did not read: the gateway
      // neither read the whole body into memory nor let the upstream run ahead.
      expect(waitingWhilePaused).toBe(true);
      expect(falseWritesWhilePaused).toBeGreaterThan(0);
      expect(sentWhilePaused).toBeGreaterThan(0);
      expect(sentWhilePaused).toBeLessThan(16 * MB);
      expect(up.sent).toBe(BIG);
    });

    it('cuts a response still trickling in when timeout is up: it bounds the whole upstream response', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        // Never silent for long (inactivity alone would never fire), done only after 2 s.
        const timer = trickle(res, 10);
        res.on('close', () => clearInterval(timer));
      };
      const started = Date.now();
      const { res } = await send(`${host.url}/${mode}-patient/trickle`);
      expect(res.statusCode).toBe(200);
      await expect(readAll(res)).rejects.toThrow();
      const took = Date.now() - started;
      // The route's timeout is 700 ms, from the request sent to the response complete.
      expect(took).toBeGreaterThanOrEqual(650);
      expect(took).toBeLessThan(1_800);
      await waitFor(() => errorsOf(`${mode}-patient`).length === 1, 'proxy.error', 3_000);
      expect(errorsOf(`${mode}-patient`)[0]).toMatchObject({
        status: 200,
        code: 'response_aborted',
      });
    });

    it('cuts a response the client holds back past timeout: the whole response counts', async () => {
      const size = 8 * MB;
      handler = (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(size),
        });
        pumpPayload(res, size);
      };
      const { res } = await send(`${host.url}/${mode}-patient/big`);
      res.pause();
      // Twice the route's 700 ms timeout, while the upstream is ready to send more.
      await sleep(1_500);
      await expect(readAll(res)).rejects.toThrow();
      await waitFor(() => errorsOf(`${mode}-patient`).length === 1, 'proxy.error', 3_000);
    });

    it('does not count a slow upload: the clock starts once the request is sent', async () => {
      handler = (req, res) => {
        readBody(req).then((body) => res.end(`got ${body.length}`));
      };
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          `${host.url}/${mode}-patient/up`,
          { method: 'POST', agent: false },
          (res) => {
            readAll(res).then((b) => resolve({ status: res.statusCode ?? 0, body: b.toString() }));
          },
        );
        req.on('error', reject);
        // 1.4 s of upload, twice the route's timeout, never silent for long.
        trickle(req, 7);
      });
      expect(answer).toEqual({ status: 200, body: 'got 7' });
      expect(errorsOf(`${mode}-patient`)).toEqual([]);
    });

    it('aborts the upstream response when the client goes away mid-download, and keeps serving', async () => {
      const up = { closedAt: 0, finished: false };
      handler = (_req, res) => {
        res.writeHead(200, { 'content-length': String(256 * MB) });
        // Never ends on its own: a steady 64 KB every few ms, never more than the socket takes.
        const timer = setInterval(() => {
          if (!res.writableNeedDrain) res.write(BIG_PAYLOAD.subarray(0, CHUNK));
        }, 2);
        res.on('close', () => {
          clearInterval(timer);
          up.closedAt = Date.now();
          up.finished = res.writableFinished;
        });
      };
      const { req, res } = await send(`${base()}/forever`);
      let received = 0;
      res.on('data', (c: Buffer) => {
        received += c.length;
      });
      res.on('error', () => {});
      req.on('error', () => {});
      await waitFor(() => received >= 512 * 1024, 'first 512 KB', 5_000);
      const abortedAt = Date.now();
      req.destroy();
      await waitFor(() => up.closedAt > 0, 'upstream response closed', 1_500);
      expect(up.closedAt - abortedAt).toBeLessThan(1_500);
      expect(up.finished).toBe(false);
      await waitFor(() => errorsOf(mode).length > 0, 'proxy.error event', 2_000);
      expect(errorsOf(mode)).toEqual([
        expect.objectContaining({ type: 'proxy.error', code: 'client_aborted', status: 200 }),
      ]);
      expect(events.some((e) => e.type === 'proxy.response')).toBe(false);

      handler = echo;
      const after = await fetch(`${base()}/after?x=1`);
      expect(after.status).toBe(200);
      expect(((await after.json()) as { url: string }).url).toBe(`/${mode}/after?x=1`);
    });

    it('cuts the client response when the upstream dies in the middle of a Content-Length body', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-length': String(4 * MB) });
        res.write(BIG_PAYLOAD.subarray(0, 256 * 1024));
        setTimeout(() => res.socket?.destroy(), 50);
      };
      const started = Date.now();
      const { res } = await send(`${base()}/dies`);
      const outcome = await howItEnds(res, 2_000);
      expect(outcome.how).toBe('cut');
      expect(res.complete).toBe(false);
      expect(outcome.bytes).toBeLessThan(4 * MB);
      expect(Date.now() - started).toBeLessThan(2_500);
      await waitFor(() => errorsOf(mode).length > 0, 'proxy.error event', 2_000);
      expect(errorsOf(mode)).toEqual([
        expect.objectContaining({ code: 'response_aborted', status: 200 }),
      ]);
    });

    it('cuts the client response when the upstream dies while the client is holding it back', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-length': String(BIG) });
        pumpPayload(res, 2 * MB, undefined, () => res.socket?.destroy());
      };
      const { res } = await send(`${base()}/dies-paused`);
      res.pause();
      await sleep(300);
      const outcome = await howItEnds(res, 3_000);
      expect(outcome.how).toBe('cut');
      expect(outcome.bytes).toBeLessThanOrEqual(2 * MB);
      await waitFor(() => errorsOf(mode).length > 0, 'proxy.error event', 2_000);
      expect(errorsOf(mode)[0]).toMatchObject({ code: 'response_aborted', status: 200 });
    });

    it('answers an HTTP/1.0 client a chunked upstream body unframed and closes the connection', async () => {
      const parts = ['alpha-', 'beta-', randomBytes(100 * 1024).toString('hex'), '-omega'];
      let upstreamVersion = '';
      handler = (req, res) => {
        upstreamVersion = req.httpVersion;
        res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
        let i = 0;
        const next = (): void => {
          const part = parts[i++];
          if (part === undefined) res.end();
          else {
            res.write(part);
            setTimeout(next, 10);
          }
        };
        next();
      };
      const response = await rawRequest(
        host.port,
        `GET /${mode}/chunked HTTP/1.0\r\nHost: 127.0.0.1:${host.port}\r\n\r\n`,
        8_000,
      );
      // rawRequest resolves on the socket's 'close': the gateway ended the connection after the body.
      expect(response.status).toBe(200);
      expect(upstreamVersion).toBe('1.1');
      expect(response.headers['transfer-encoding']).toBeUndefined();
      expect(response.headers['content-length']).toBeUndefined();
      expect(response.headers.connection).toBe('close');
      const rawBody = response.raw.slice(response.raw.indexOf('\r\n\r\n') + 4);
      expect(rawBody).toBe(parts.join(''));
    });

    it('tells an HTTP/1.0 keep-alive client Connection: close when the body ends with the connection', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
        res.write('first-');
        setTimeout(() => res.end('last'), 10);
      };
      const response = await rawRequest(
        host.port,
        `GET /${mode}/chunked HTTP/1.0\r\nHost: 127.0.0.1:${host.port}\r\nConnection: keep-alive\r\n\r\n`,
        8_000,
      );
      expect(response.status).toBe(200);
      expect(response.headers['transfer-encoding']).toBeUndefined();
      expect(response.headers['content-length']).toBeUndefined();
      expect(response.raw.slice(response.raw.indexOf('\r\n\r\n') + 4)).toBe('first-last');
      // rawRequest resolved on 'close': without a length the body can only end with the connection,
      // so the response must not announce a persistent one (Node itself would say close here).
      expect(response.headers.connection).toBe('close');
    });

    it('keeps a custom status message and several Set-Cookie headers apart', async () => {
      const cookies = [
        'a=1; Path=/',
        'b=2; HttpOnly',
        'c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT',
      ];
      handler = (_req, res) => {
        res.statusCode = 418;
        res.statusMessage = 'Teapot Here';
        res.setHeader('set-cookie', cookies);
        res.setHeader('content-type', 'text/plain');
        res.end('short and stout');
      };
      const [teapot] = await rawExchanges(
        host.port,
        [`GET /${mode}/teapot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`],
        ['GET'],
      );
      expect(teapot?.statusLine).toBe('HTTP/1.1 418 Teapot Here');
      expect(teapot?.headers.filter(([name]) => name === 'set-cookie').map(([, v]) => v)).toEqual(
        cookies,
      );
      expect(teapot?.body).toBe('short and stout');

      const { res } = await send(`${base()}/teapot`);
      expect(res.statusCode).toBe(418);
      expect(res.statusMessage).toBe('Teapot Here');
      expect(res.headers['set-cookie']).toEqual(cookies);
      expect((await readAll(res)).toString()).toBe('short and stout');
    });

    it('sends no body for 204, 304 and HEAD (HEAD keeps the GET’s Content-Length) on one connection', async () => {
      const getBody = 'x'.repeat(1234);
      handler = (req, res) => {
        const path = req.url ?? '';
        if (path.endsWith('/no-content')) {
          res.writeHead(204, { 'x-kind': 'no-content' });
          res.end();
        } else if (path.endsWith('/not-modified')) {
          res.writeHead(304, { etag: '"v1"', 'x-kind': 'not-modified' });
          res.end();
        } else if (path.endsWith('/doc')) {
          // Node writes no body for HEAD; the Content-Length is the GET's.
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': getBody.length });
          res.end(req.method === 'HEAD' ? undefined : getBody);
        } else {
          res.writeHead(200, { 'content-length': 4 });
          res.end('last');
        }
      };
      const hostLine = `Host: 127.0.0.1:${host.port}\r\n`;
      const responses = await rawExchanges(
        host.port,
        [
          `GET /${mode}/no-content HTTP/1.1\r\n${hostLine}\r\n`,
          `GET /${mode}/not-modified HTTP/1.1\r\n${hostLine}If-None-Match: "v1"\r\n\r\n`,
          `HEAD /${mode}/doc HTTP/1.1\r\n${hostLine}\r\n`,
          `GET /${mode}/doc HTTP/1.1\r\n${hostLine}\r\n`,
          `GET /${mode}/last HTTP/1.1\r\n${hostLine}Connection: close\r\n\r\n`,
        ],
        ['GET', 'GET', 'HEAD', 'GET', 'GET'],
      );
      const header = (r: RawExchange | undefined, name: string): string | undefined =>
        r?.headers.find(([n]) => n === name)?.[1];
      const [noContent, notModified, head, get, last] = responses;
      expect(noContent?.statusLine).toBe('HTTP/1.1 204 No Content');
      expect(header(noContent, 'x-kind')).toBe('no-content');
      expect(header(noContent, 'transfer-encoding')).toBeUndefined();
      expect(notModified?.statusLine).toBe('HTTP/1.1 304 Not Modified');
      expect(header(notModified, 'etag')).toBe('"v1"');
      expect(header(notModified, 'transfer-encoding')).toBeUndefined();
      expect(head?.statusLine).toBe('HTTP/1.1 200 OK');
      expect(header(head, 'content-length')).toBe(String(getBody.length));
      expect(header(head, 'transfer-encoding')).toBeUndefined();
      expect(get?.body).toBe(getBody);
      expect(last?.body).toBe('last');
    });

    it('streams a chunked upload of unknown length to the upstream as it arrives', async () => {
      const payload = randomBytes(3 * MB);
      let upstreamBytes = 0;
      let upstreamHeaders: IncomingMessage['headers'] = {};
      handler = (req, res) => {
        upstreamHeaders = req.headers;
        const hash = createHash('sha256');
        let length = 0;
        req.on('data', (c: Buffer) => {
          upstreamBytes += c.length;
          length += c.length;
          hash.update(c);
        });
        req.on('end', () => {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ length, sha: hash.digest('hex') }));
        });
      };
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${base()}/upload`, { method: 'POST', agent: false }, (res) => {
          readAll(res).then((b) => resolve({ status: res.statusCode ?? 0, body: b.toString() }));
        });
        req.on('error', reject);
        req.write(payload.subarray(0, MB));
        // The first megabyte reaches the upstream before the client has sent the rest.
        waitFor(() => upstreamBytes > 0, 'first upload bytes upstream', 5_000).then(() => {
          req.write(payload.subarray(MB, 2 * MB));
          req.end(payload.subarray(2 * MB));
        }, reject);
      });
      expect(answer.status).toBe(201);
      expect(JSON.parse(answer.body)).toEqual({ length: payload.length, sha: sha256(payload) });
      expect(upstreamHeaders['transfer-encoding']).toBe('chunked');
      expect(upstreamHeaders['content-length']).toBeUndefined();
    });

    it('forwards Content-Length: 0 as it is and adds no framing to bodiless GET, DELETE and OPTIONS', async () => {
      const post = await rawRequest(
        host.port,
        `POST /${mode}/empty HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      expect(post.status).toBe(200);
      for (const method of ['GET', 'DELETE', 'OPTIONS']) {
        const r = await rawRequest(
          host.port,
          `${method} /${mode}/bare HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        );
        expect(r.status, method).toBe(200);
      }
      expect(seen.map((s) => s.method)).toEqual(['POST', 'GET', 'DELETE', 'OPTIONS']);
      const [empty, ...bare] = seen;
      expect(empty?.headers['content-length']).toBe('0');
      expect(empty?.headers['transfer-encoding']).toBeUndefined();
      expect(empty?.body.length).toBe(0);
      for (const s of bare) {
        const names = s.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        expect(names, s.method).not.toContain('transfer-encoding');
        expect(names, s.method).not.toContain('content-length');
        expect(s.body.length).toBe(0);
      }
    });

    it('sends the target URL’s credentials as Basic auth and prepends the target’s path', async () => {
      const auth = await fetch(`${host.url}/${mode}-auth/who?x=1`);
      expect(auth.status).toBe(200);
      const based = await fetch(`${host.url}/${mode}-based/a/b%20c?q=1&r=2`);
      expect(based.status).toBe(200);
      expect(seen).toHaveLength(2);
      const expected = `Basic ${Buffer.from('user:pa:ss').toString('base64')}`;
      expect(seen[0]?.headers.authorization).toBe(expected);
      expect(seen[0]?.url).toBe(`/${mode}-auth/who?x=1`);
      expect(seen[1]?.url).toBe(`/base/${mode}-based/a/b%20c?q=1&r=2`);
      expect(seen[1]?.headers.authorization).toBeUndefined();
      // The credentials are never shown (the events name the target without them).
      const shown = events.filter((e) => e.type === 'proxy.response');
      expect(shown.map((e) => ('target' in e ? e.target : ''))).toEqual([
        `http://127.0.0.1:${upstream.port}`,
        `http://127.0.0.1:${upstream.port}/base`,
      ]);
    });

    it('reuses upstream connections: 50 sequential requests open at most a few', async () => {
      const connectionsBefore = upstreamConnections;
      for (let i = 0; i < 50; i++) {
        const { res } = await send(`${base()}/seq/${i}`);
        const body = JSON.parse((await readAll(res)).toString()) as { url: string };
        expect(body.url).toBe(`/${mode}/seq/${i}`);
      }
      expect(seen).toHaveLength(50);
      expect(upstreamConnections - connectionsBefore).toBeLessThanOrEqual(3);
    });

    it('sends a GET again, once, when its pooled upstream connection turns out closed', async () => {
      oneShotSeen.connections = 0;
      oneShotSeen.requests = 0;
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${host.url}/${mode}-stale/n/${i}`);
        expect(res.status, `request ${i}`).toBe(200);
        expect(await res.text()).toBe('answer!');
      }
      // The 2nd and 3rd requests each met a pooled socket the upstream hung up on, then a new one.
      expect(oneShotSeen.connections).toBe(3);
      expect(oneShotSeen.requests).toBe(5);
      expect(errorsOf(`${mode}-stale`)).toEqual([]);
      expect(events.filter((e) => e.type === 'proxy.response')).toHaveLength(3);
    });
  });
});
