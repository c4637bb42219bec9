import type { GatewayMiddleware } from '../../src/types.js';

/** Anything a suite started that has an async `close()`: a host, an upstream. */
interface Closable {
  close(): Promise<unknown>;
}

/**
 * A suite's teardown: closes its middlewares (all at once), then each server in the order given
 * (the host before its upstreams, so nothing is forwarded to a closed upstream).
 */
export async function closeAll(
  middlewares: readonly GatewayMiddleware[],
  ...servers: readonly Closable[]
): Promise<void> {
  await Promise.all(middlewares.map((m) => m.close()));
  for (const server of servers) await server.close();
}
