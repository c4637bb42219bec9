import { tracing } from './tracing.js';

/**
 * Sets `http.route` (the selected route's path template, as written in its `path`, relative to
 * where the gateway is mounted) on the span that is active when the gateway selects a route:
 * the host's server span. Nothing when `@opentelemetry/api` is not installed, no tracer provider
 * is registered, or no span is active. Called once per request that matched a route (before
 * authentication and limits, so a 401 or 429 carries it too).
 *
 * @example
 * traceServerRoute('/users/:id');
 */
export function traceServerRoute(template: string): void {
  const found = tracing();
  if (found === null || found.tracer() === null) return;
  const span = found.api.trace.getActiveSpan();
  if (span?.isRecording()) span.setAttribute('http.route', template);
}
