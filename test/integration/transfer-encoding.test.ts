// Issue 11 item 3 (SPEC §8, framing): the client's Transfer-Encoding went upstream verbatim
// (`foo, chunked`, `CHUNKED`) while Node re-chunked the body, so an upstream that only knows exact
// `chunked` could desync. Now a body goes up with exactly `Transfer-Encoding: chunked` (or its
// Content-Length), and any other coding gets 501. The upstream is a `net` server that records the
// exact bytes it received; the client writes raw bytes.
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type GatewayMiddleware, route } from '../../src/index.js';
import { closeAll } from '../helpers/close-all.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { expectProblem } from '../helpers/problem.js';
import { type RawResponse, rawMessage, rawRequest } from '../helpers/raw-http.js';

/** An HTTP/1.1 upstream on raw TCP: keeps every request's bytes, answers `200 ok` once one is whole. */
interface RawUpstream {
  url: string;
  /** One entry per request, the bytes exactly as they arrived (latin1). */
  requests: string[];
  close(): Promise<void>;
}

async function startRawUpstream(): Promise<RawUpstream> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const length = completeRequestLength(buffered);
        if (length === 0) return;
        requests.push(buffered.slice(0, length));
        buffered = buffered.slice(length);
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The byte length of the first complete request in `data` (chunked without trailers, or by length), else 0. */
function completeRequestLength(data: string): number {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd === -1) return 0;
  const head = data.slice(0, headEnd).toLowerCase();
  const bodyStart = headEnd + 4;
  if (/\r\ntransfer-encoding:/.test(head)) {
    const end = data.indexOf('\r\n0\r\n\r\n', bodyStart - 2);
    return end === -1 ? 0 : end + 7;
  }
  const length = /\r\ncontent-length: *(\d+)/.exec(head);
  const bodyLength = length === null ? 0 : Number(length[1]);
  return data.length >= bodyStart + bodyLength ? bodyStart + bodyLength : 0;
}

/** The header lines of a raw request, as [lower-case name, value]. */
function headerLines(request: string): Array<[string, string]> {
  const head = request.slice(0, request.indexOf('\r\n\r\n'));
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
    });
}

/** The framing header lines of a raw request (Transfer-Encoding, Content-Length), in order. */
function framingOf(request: string): Array<[string, string]> {
  return headerLines(request).filter(
    ([name]) => name === 'transfer-encoding' || name === 'content-length',
  );
}

function bodyOf(request: string): string {
  return request.slice(request.indexOf('\r\n\r\n') + 4);
}

function post(port: number, path: string, headers: string[], body: string): Promise<RawResponse> {
  return rawRequest(port, rawMessage('POST', path, ['gw.example'], headers, body));
}

const CHUNKED_BODY = '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';

/** Codings other than `chunked` alone that reach the gateway (Node passes them on). */
const REFUSED_CODINGS: string[][] = [
  ['foo, chunked'],
  ['identity, chunked'],
  ['gzip, chunked'],
  ['chunked;x=1'],
  ['gzip', 'chunked'],
  ['identity'],
  ['gzip'],
];

/** Codings Node's own parser refuses with a bare 400 on some versions and hands on on others. */
const NODE_OR_GATEWAY: string[][] = [['chunked, chunked'], ['chunked', 'chunked']];

describe.each(EXPRESS_MAJORS)('request framing on Express %i', (major) => {
  let upstream: RawUpstream;
  let host: Host;
  const middlewares: GatewayMiddleware[] = [];

  beforeAll(async () => {
    upstream = await startRawUpstream();
    host = await startHost((app) => {
      const gateway = createGateway({ routes: [{ path: '/up', target: upstream.url }] });
      const standalone = route({ path: '/up', target: upstream.url });
      // A route that tries to remove the framing: it cannot.
      const removing = route({
        path: '/removing',
        target: upstream.url,
        headers: { request: { remove: ['transfer-encoding', 'content-length'] } },
      });
      // A `proxy` option forwards through http-proxy-middleware: the framing must hold there too.
      const proxied = route({ path: '/up', target: upstream.url, proxy: { secure: true } });
      middlewares.push(gateway, standalone, removing, proxied);
      app.use('/gw', gateway);
      app.use('/rt', standalone);
      app.use('/hp', proxied);
      app.use('/rm', removing);
    }, major);
  });

  afterAll(() => closeAll(middlewares, host, upstream));

  afterEach(() => {
    upstream.requests.length = 0;
  });

  describe.each(['/gw', '/rt', '/hp'])('through %s', (mount) => {
    it.each(['chunked', 'CHUNKED', 'Chunked'])(
      'forwards a body sent with Transfer-Encoding: %s with exactly "chunked"',
      async (coding) => {
        const response = await post(
          host.port,
          `${mount}/up`,
          [`Transfer-Encoding: ${coding}`],
          CHUNKED_BODY,
        );
        expect(response.status).toBe(200);
        expect(response.body).toBe('ok');
        expect(upstream.requests).toHaveLength(1);
        const request = upstream.requests[0] as string;
        expect(framingOf(request)).toEqual([['transfer-encoding', 'chunked']]);
        expect(dechunk(bodyOf(request))).toBe('hello world');
      },
    );

    it('forwards a body sent with Content-Length with that length and no Transfer-Encoding', async () => {
      const response = await post(host.port, `${mount}/up`, ['Content-Length: 11'], 'hello world');
      expect(response.status).toBe(200);
      const request = upstream.requests[0] as string;
      expect(framingOf(request)).toEqual([['content-length', '11']]);
      expect(bodyOf(request)).toBe('hello world');
    });

    it.each(REFUSED_CODINGS)(
      'answers Transfer-Encoding %j with 501 not_implemented; the upstream sees nothing',
      async (...codings) => {
        const response = await post(
          host.port,
          `${mount}/up`,
          codings.map((c) => `Transfer-Encoding: ${c}`),
          CHUNKED_BODY,
        );
        expectProblem(response, 501, 'not_implemented');
        // Give a forwarded request time to arrive before concluding none did.
        await sleep(50);
        expect(upstream.requests).toEqual([]);
      },
    );

    it.each(NODE_OR_GATEWAY)(
      'refuses Transfer-Encoding %j (Node’s 400 or the gateway’s 501); the upstream sees nothing',
      async (...codings) => {
        const response = await post(
          host.port,
          `${mount}/up`,
          codings.map((c) => `Transfer-Encoding: ${c}`),
          CHUNKED_BODY,
        );
        if (response.headers['content-type'] === 'application/problem+json') {
          expectProblem(response, 501, 'not_implemented');
        } else {
          expect(response.status).toBe(400);
        }
        await sleep(50);
        expect(upstream.requests).toEqual([]);
      },
    );
  });

  it('keeps the framing when a route lists it in headers.request.remove', async () => {
    const chunked = await post(
      host.port,
      '/rm/removing',
      ['Transfer-Encoding: chunked'],
      CHUNKED_BODY,
    );
    expect(chunked.status).toBe(200);
    const sized = await post(host.port, '/rm/removing', ['Content-Length: 5'], 'hello');
    expect(sized.status).toBe(200);
    expect(upstream.requests).toHaveLength(2);
    const [first, second] = upstream.requests as [string, string];
    expect(headerLines(first).filter(([name]) => name === 'transfer-encoding')).toEqual([
      ['transfer-encoding', 'chunked'],
    ]);
    expect(dechunk(bodyOf(first))).toBe('hello world');
    expect(headerLines(second).filter(([name]) => name === 'content-length')).toEqual([
      ['content-length', '5'],
    ]);
    expect(bodyOf(second)).toBe('hello');
  });
});

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!size) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}
