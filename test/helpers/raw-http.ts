import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/**
 * Sends bytes exactly as given over a TCP socket and reads one response
 * (the connection is closed by the request's `Connection: close`). For paths
 * and headers that `fetch` would normalise or refuse to send.
 */
export function rawRequest(
  port: number,
  request: string | Buffer,
  timeoutMs = 5_000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw request timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve(parseRawResponse(raw));
    });
    socket.write(request);
  });
}

/** `GET <target> HTTP/1.1` with Host and Connection: close, plus extra header lines. */
export function rawGet(
  port: number,
  target: string,
  extraHeaders: string[] = [],
): Promise<RawResponse> {
  const lines = [
    `GET ${target} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Connection: close',
    ...extraHeaders,
    '',
    '',
  ];
  return rawRequest(port, lines.join('\r\n'));
}

/**
 * The bytes of `METHOD target HTTP/1.1`, one `Host` line per entry of `hosts` (none when empty),
 * `Connection: close`, the extra header lines as given, an empty line, then `body`; latin1, so
 * each character is the one byte it names. For heads an HTTP client would normalise or refuse.
 */
export function rawMessage(
  method: string,
  target: string,
  hosts: readonly string[],
  headers: readonly string[] = [],
  body = '',
): Buffer {
  const lines = [
    `${method} ${target} HTTP/1.1`,
    ...hosts.map((h) => `Host: ${h}`),
    'Connection: close',
    ...headers,
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

export function parseRawResponse(raw: string): RawResponse {
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = headEnd === -1 ? raw : raw.slice(0, headEnd);
  let body = headEnd === -1 ? '' : raw.slice(headEnd + 4);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(statusLine.split(' ')[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status, headers, body, raw };
}

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd === -1) break;
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!size) break;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
  return out;
}
