import { type GatewayEvent, type GatewayMiddleware, route } from '../../src/index.js';

/**
 * Builds standalone `route()` middlewares that all report to one event list
 * and are remembered for closing after the suite. `request.completed` is left
 * out: it arrives after the response is over (sometimes after the client read
 * it), and has tests of its own (request-completed.test.ts).
 */
export function routeCollector(
  events: GatewayEvent[],
  middlewares: GatewayMiddleware[],
): (options: Parameters<typeof route>[0]) => GatewayMiddleware {
  const onEvent = (e: GatewayEvent): void => {
    if (e.type !== 'request.completed') events.push(e);
  };
  return (options) => {
    const m = route({ ...options, onEvent });
    middlewares.push(m);
    return m;
  };
}
