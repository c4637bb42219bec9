import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer } from './upstream.js';

/** A JWKS endpoint on 127.0.0.1 for tests: counts fetches, serves whatever keys it is given, can hang or go down. */
export interface JwksServer {
  /** `http://127.0.0.1:PORT/jwks.json` */
  uri: string;
  port: number;
  /** Fetches received so far. */
  readonly fetches: number;
  /** Replaces the served key set (key rotation). */
  setKeys(keys: object[]): void;
  /** `'ok'` serves the keys; `'error'` answers 500; `'hang'` never answers. */
  setMode(mode: 'ok' | 'error' | 'hang'): void;
  /** Stops listening (connections refused from now on). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function startJwksServer(initialKeys: object[]): Promise<JwksServer> {
  let keys = initialKeys;
  let mode: 'ok' | 'error' | 'hang' = 'ok';
  let fetches = 0;
  let server: Server | undefined = createServer((req, res) => {
    fetches++;
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    if (mode === 'hang') return;
    if (mode === 'error') {
      res.writeHead(500).end('down');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const stop = async () => {
    if (server) await closeServer(server);
    server = undefined;
  };
  return {
    uri: `http://127.0.0.1:${port}/jwks.json`,
    port,
    get fetches() {
      return fetches;
    },
    setKeys(next) {
      keys = next;
    },
    setMode(next) {
      mode = next;
    },
    stop,
    close: stop,
  };
}
