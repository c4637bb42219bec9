import { authenticate } from '../../src/auth/authenticate.js';
import type { AuthOptions } from '../../src/schema/auth.js';
import type { GatewayEvent, GatewayMiddleware } from '../../src/types.js';
import { testForwarder } from './auth-forwarder.js';
import { type ExpressMajor, type Host, startHost } from './host.js';
import { startUpstream, type Upstream } from './upstream.js';

/** An Express host with `authenticate(options)` mounted on `/api` in front of a recording upstream. */
export interface AuthApp {
  host: Host;
  upstream: Upstream;
  middleware: GatewayMiddleware;
  /**
   * The `auth.*` events. `request.completed` (which comes once the response is over, possibly
   * after the client has read it) is left out here: test/integration/request-completed.test.ts
   * covers it.
   */
  events: GatewayEvent[];
  /** `fetch` to the host, path relative to the host root (e.g. `/api/x`). */
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export async function startAuthApp(
  options: Omit<AuthOptions, 'onEvent'>,
  major: ExpressMajor = 5,
): Promise<AuthApp> {
  const upstream = await startUpstream();
  const events: GatewayEvent[] = [];
  const middleware = authenticate({
    ...options,
    onEvent: (e) => {
      if (e.type !== 'request.completed') events.push(e);
    },
  } as AuthOptions);
  const host = await startHost((app) => {
    app.use('/api', middleware, testForwarder(upstream.url));
  }, major);
  return {
    host,
    upstream,
    middleware,
    events,
    get: (path, headers = {}) => fetch(`${host.url}${path}`, { headers }),
    async close() {
      await middleware.close();
      await host.close();
      await upstream.close();
    },
  };
}

/** Everything a client or listener could see of a response, to search for leaked secrets. */
export async function visible(res: Response, events: GatewayEvent[]): Promise<string> {
  const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
  const body = await res.text();
  return `${res.status}\n${headers}\n\n${body}\n${JSON.stringify(events)}`;
}
