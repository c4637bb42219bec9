import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import { closeServer } from './upstream.js';

export type ExpressMajor = 4 | 5;
// biome-ignore lint/suspicious/noExplicitAny: the two majors' types differ; tests only use their common surface
export type AnyExpressApp = any;

/** Both Express majors, to run a suite against each: `describe.each(EXPRESS_MAJORS)`. */
export const EXPRESS_MAJORS: ExpressMajor[] = [4, 5];

export function createExpressApp(major: ExpressMajor = 5): AnyExpressApp {
  return major === 4 ? express4() : express5();
}

export interface Host {
  url: string;
  port: number;
  server: Server;
  app: AnyExpressApp;
  close(): Promise<void>;
}

/**
 * Starts a real Express host app on 127.0.0.1:0. `setup` mounts whatever the
 * test needs (the gateway, host routes, error handlers).
 */
export async function startHost(
  setup: (app: AnyExpressApp) => void,
  major: ExpressMajor = 5,
): Promise<Host> {
  const app = createExpressApp(major);
  setup(app);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, server, app, close: () => closeServer(server) };
}
