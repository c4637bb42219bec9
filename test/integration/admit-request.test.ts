import {
  createServer,
  type IncomingMessage,
  ServerResponse as Response,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmitter } from '../../src/events.js';
import type { InternalContext } from '../../src/pipeline.js';
import { sendProblem } from '../../src/problem.js';
import { admitRequest } from '../../src/route/admit-request.js';
import { EXPRESS_MAJORS, type Host, startHost } from '../helpers/host.js';
import { expectProblem } from '../helpers/problem.js';
import { rawGet, rawMessage, rawRequest } from '../helpers/raw-http.js';
import { closeServer } from '../helpers/upstream.js';

const ctx: InternalContext = { emit: createEmitter(undefined), sendProblem };

interface Seen {
  path: string;
  url: string;
  method: string;
}

/** A tiny handler that runs admitRequest and records what the next stage would see. */
function admittingHandler(seen: Seen[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = admitRequest(req, res, ctx);
    if (path === null) return;
    seen.push({ path, url: req.url ?? '', method: req.method ?? '' });
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path, url: req.url }));
  };
}

/** Accepted: [relative target, the normalised path, req.url afterwards]. */
const accepted: Array<[string, string, string]> = [
  ['/users/42', '/users/42', '/users/42'],
  ['/users/42?x=1&y=%2F..', '/users/42', '/users/42?x=1&y=%2F..'],
  ['/a/./b/../c', '/a/c', '/a/c'],
  ['/a/%2e%2E/b?q=%2e%2e', '/b', '/b?q=%2e%2e'],
  ['/a//b///c', '/a/b/c', '/a/b/c'],
  ['/%7euser/%41', '/~user/A', '/~user/A'],
  ['/a%20b/%c3%a9', '/a%20b/%C3%A9', '/a%20b/%C3%A9'],
  ['/a;jsessionid=1/b', '/a;jsessionid=1/b', '/a;jsessionid=1/b'],
  ['/a"b', '/a%22b', '/a%22b'],
  ['/x?', '/x', '/x?'],
  ['/x?a?b#', '/x', '/x?a?b#'],
];

/** Refused with 400: relative targets. */
const refused = [
  '/..',
  '/../etc/passwd',
  '/a/../../b',
  '/%2e%2e/x',
  '/a/%2E%2e/%2e./x',
  '/a%2fb',
  '/a%2F..%2Fb',
  '/a%5cb',
  '/a%5C',
  '/a\\b',
  '/a%00b',
  '/%zz',
  '/%4',
  '/a%',
  '/..;/admin',
  '/a/%2e%2e;x/b',
  '/%c0%ae%c0%ae/etc',
  '/%e0%80%ae%e0%80%ae/etc',
];

/** Host values refused with 400 (SPEC §8): each reads as another host to some parser. */
const badHosts = [
  '',
  'a@b',
  'x@admin.example.com',
  'x:80:80',
  'admin.example.com:443:1',
  'x/',
  'admin.example.com/',
  'x\\',
  'admin.example.com\\',
  'a b',
  'a,b',
  'x:',
  '[::1',
  '::1',
  'caf\u00e9.example',
];

const goodHosts = ['admin.example.com', 'ADMIN.example.com.:8443', '10.0.0.1:80', '[::1]:8080'];

/** A GET with the given Host lines exactly (none when empty), sent as latin1 bytes. */
function requestWithHost(target: string, hosts: string[]): Buffer {
  return rawMessage('GET', target, hosts);
}

describe.each(EXPRESS_MAJORS)('admitRequest on Express %i', (major) => {
  describe.each(['/api', '/'])('mounted at %s', (mount) => {
    const prefix = mount === '/' ? '' : mount;
    const seen: Seen[] = [];
    let host: Host;

    beforeAll(async () => {
      host = await startHost((app) => {
        app.use(mount, admittingHandler(seen));
      }, major);
    });
    afterAll(() => host.close());

    it.each(accepted)('accepts %j as %j', async (target, path, url) => {
      seen.length = 0;
      const response = await rawGet(host.port, `${prefix}${target}`);
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ path, url });
      expect(seen).toEqual([{ path, url, method: 'GET' }]);
    });

    it.each(refused)('refuses %j with 400 before any handler runs', async (target) => {
      seen.length = 0;
      const response = await rawGet(host.port, `${prefix}${target}`);
      expectProblem(response, 400, 'bad_request');
      expect(seen).toEqual([]);
    });

    // Node's parser refuses raw bytes >= 0x80 in the request line with a bare 400 (even with
    // insecureHTTPParser); normalizePath would percent-encode them otherwise.
    it('never sees raw non-ASCII bytes: Node refuses them first', async () => {
      seen.length = 0;
      const request = `GET ${prefix}/caf\u00e9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
      const response = await rawRequest(host.port, Buffer.from(request, 'latin1'));
      expect(response.status).toBe(400);
      expect(seen).toEqual([]);
    });

    it('refuses an absolute-form target with 400', async () => {
      seen.length = 0;
      const response = await rawGet(host.port, `http://evil.example${prefix}/x`);
      expectProblem(response, 400, 'bad_request');
      expect(seen).toEqual([]);
    });

    it('refuses 1000 header lines hiding a Content-Length with 431', async () => {
      seen.length = 0;
      // Host + Connection + 997 fillers + Content-Length = 1000 lines: Node keeps
      // at most 1000 by default, so a 1001st (the real framing header) would vanish.
      const fillers = Array.from({ length: 997 }, (_, i) => `x-f${i}: v`);
      const head = [
        `POST ${prefix}/upload HTTP/1.1`,
        `Host: 127.0.0.1:${host.port}`,
        'Connection: close',
        ...fillers,
        'Content-Length: 5',
        '',
        'hello',
      ].join('\r\n');
      const response = await rawRequest(host.port, head);
      expectProblem(response, 431, 'request_header_fields_too_large');
      expect(seen).toEqual([]);
    });

    it('refuses when the Content-Length is the line Node dropped', async () => {
      seen.length = 0;
      const fillers = Array.from({ length: 998 }, (_, i) => `x-f${i}: v`);
      const request = [
        `POST ${prefix}/upload HTTP/1.1`,
        `Host: 127.0.0.1:${host.port}`,
        'Connection: close',
        ...fillers,
        'Content-Length: 5',
        '',
        'hello',
      ].join('\r\n');
      const response = await rawRequest(host.port, request);
      if (response.headers['content-type'] !== undefined) {
        expectProblem(response, 431, 'request_header_fields_too_large');
      } else {
        // Node may refuse this request itself, with a bare 431, before any middleware runs.
        expect(response.status).toBe(431);
      }
      expect(seen).toEqual([]);
    });

    it.each(badHosts)('refuses Host %j with 400 before any handler runs', async (value) => {
      seen.length = 0;
      const response = await rawRequest(host.port, requestWithHost(`${prefix}/x`, [value]));
      expectProblem(response, 400, 'bad_request');
      expect(seen).toEqual([]);
    });

    it('refuses two Host lines, also when both are valid', async () => {
      seen.length = 0;
      const response = await rawRequest(
        host.port,
        requestWithHost(`${prefix}/x`, ['admin.example.com', 'public.example.com']),
      );
      expectProblem(response, 400, 'bad_request');
      expect(JSON.parse(response.body).detail).toMatch(/more than one Host/);
      expect(seen).toEqual([]);
    });

    it.each(goodHosts)('accepts Host %j and leaves it as it came', async (value) => {
      seen.length = 0;
      const response = await rawRequest(host.port, requestWithHost(`${prefix}/x`, [value]));
      expect(response.status).toBe(200);
      expect(seen).toEqual([{ path: '/x', url: '/x', method: 'GET' }]);
    });

    it('accepts an HTTP/1.0 request without Host', async () => {
      seen.length = 0;
      const response = await rawRequest(host.port, `GET ${prefix}/x HTTP/1.0\r\n\r\n`);
      expect(response.status).toBe(200);
      expect(seen).toEqual([{ path: '/x', url: '/x', method: 'GET' }]);
    });

    it('accepts a request with many but fewer header lines than the limit', async () => {
      seen.length = 0;
      const fillers = Array.from({ length: 996 }, (_, i) => `x-f${i}: v`);
      const response = await rawGet(host.port, `${prefix}/many`, fillers);
      expect(response.status).toBe(200);
      expect(seen).toEqual([{ path: '/many', url: '/many', method: 'GET' }]);
    });
  });

  it("follows the server's own maxHeadersCount", async () => {
    const seen: Seen[] = [];
    const host = await startHost((app) => app.use(admittingHandler(seen)), major);
    try {
      host.server.maxHeadersCount = 20;
      const ok = await rawGet(
        host.port,
        '/x',
        Array.from({ length: 17 }, (_, i) => `x-f${i}: v`),
      );
      expect(ok.status).toBe(200);
      const refusedResponse = await rawGet(
        host.port,
        '/x',
        Array.from({ length: 18 }, (_, i) => `x-f${i}: v`),
      );
      expectProblem(refusedResponse, 431, 'request_header_fields_too_large');
      expect(seen).toHaveLength(1);
      host.server.maxHeadersCount = 0; // Node keeps every line: nothing can hide
      const unlimited = await rawGet(
        host.port,
        '/x',
        Array.from({ length: 1_500 }, (_, i) => `h${i}:v`),
      );
      expect(unlimited.status).toBe(200);
      expect(seen).toHaveLength(2);
    } finally {
      await host.close();
    }
  });
});

describe('admitRequest on a plain node:http server', () => {
  const seen: Seen[] = [];
  let server: Server;
  let port: number;

  beforeAll(async () => {
    server = createServer(admittingHandler(seen));
    // How an HTTP server can hand CONNECT to the same code (handleUpgrades does the like).
    server.on('connect', (req: IncomingMessage, socket: Socket) => {
      const res = new Response(req);
      res.assignSocket(socket);
      res.shouldKeepAlive = false;
      res.on('finish', () => socket.end());
      admittingHandler(seen)(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => closeServer(server));

  it('sees the whole path and normalises it', async () => {
    seen.length = 0;
    const response = await rawGet(port, '/api/./v1//users/%7e?x');
    expect(response.status).toBe(200);
    expect(seen).toEqual([{ path: '/api/v1/users/~', url: '/api/v1/users/~?x', method: 'GET' }]);
  });

  it("refuses the asterisk-form 'OPTIONS *'", async () => {
    seen.length = 0;
    const response = await rawRequest(
      port,
      'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expectProblem(response, 400, 'bad_request');
    expect(seen).toEqual([]);
  });

  it('refuses CONNECT', async () => {
    seen.length = 0;
    const response = await rawRequest(
      port,
      'CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n',
    );
    expectProblem(response, 400, 'bad_request');
    expect(seen).toEqual([]);
  });

  it('refuses an HTTP/1.1 request without Host even when Node lets it through', async () => {
    const seenHere: Seen[] = [];
    const lenient = createServer({ requireHostHeader: false }, admittingHandler(seenHere));
    await new Promise<void>((resolve) => lenient.listen(0, '127.0.0.1', resolve));
    try {
      const { port: lenientPort } = lenient.address() as AddressInfo;
      const response = await rawRequest(
        lenientPort,
        'GET /x HTTP/1.1\r\nConnection: close\r\n\r\n',
      );
      expectProblem(response, 400, 'bad_request');
      expect(JSON.parse(response.body).detail).toMatch(/no Host/);
      expect(seenHere).toEqual([]);
    } finally {
      await closeServer(lenient);
    }
  });

  it('refuses CONNECT even with an origin-form-looking target', async () => {
    seen.length = 0;
    const response = await rawRequest(port, 'CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n');
    expectProblem(response, 400, 'bad_request');
    expect(seen).toEqual([]);
  });
});
