import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { GatewayConfigError } from '../errors.js';
import { channelName } from '../events.js';
import { type PrometheusMetricsOptions, parsePrometheusMetricsOptions } from '../schema/metrics.js';
import type { GatewayEventOf, GatewayEventType } from '../types.js';
import { methodLabel, routeLabel, targetLabel } from './labels.js';

export type { PrometheusMetricsOptions } from '../schema/metrics.js';
export { DEFAULT_BUCKETS } from '../schema/metrics.js';

/**
 * What {@link prometheusMetrics} returns.
 *
 * @example
 * app.get('/metrics', metrics.handler);
 * await metrics.close();
 */
export interface PrometheusMetrics {
  /** The registry the metrics are in (the one passed, or the one created). */
  readonly registry: Registry;
  /**
   * Serves the registry in the text exposition format with the registry's `Content-Type`:
   * an Express handler, also a plain `node:http` request listener. A failing collection goes
   * to `next(err)` under Express, else answers 500.
   */
  handler(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /**
   * Unsubscribes from the gateways' channels: the metrics stop counting and keep their last
   * values in the registry (remove them with `registry.clear()` if you reuse it).
   */
  close(): Promise<void>;
}

/** The metrics, by the name they get after the prefix. */
const NAMES = {
  requests: 'requests_total',
  requestDuration: 'request_duration_seconds',
  upstreamDuration: 'upstream_duration_seconds',
  authFailures: 'auth_failures_total',
  refusals: 'ratelimit_refusals_total',
  storeErrors: 'store_errors_total',
  targetUp: 'target_up',
  configUpdates: 'config_updates_total',
  configInfo: 'config_info',
} as const;

/**
 * Prometheus metrics for every portcullis gateway and middleware in the process, from their
 * `node:diagnostics_channel` events. Validates its options now (a mistake throws
 * `GatewayConfigError`) and registers, with the default prefix:
 *
 * - `portcullis_requests_total{route,method,status}` and
 *   `portcullis_request_duration_seconds{route,method}` (histogram), from `request.completed`;
 * - `portcullis_upstream_duration_seconds{route,target}` (histogram), one observation per
 *   upstream attempt, from `proxy.response` / `proxy.error`;
 * - `portcullis_auth_failures_total{reason}`, `portcullis_ratelimit_refusals_total{route,policy}`,
 *   `portcullis_store_errors_total{policy}`;
 * - `portcullis_target_up{route,target}` (gauge 1/0, from `target.health`, 1 once a target answered);
 * - `portcullis_config_updates_total{result}` (`updated` / `rejected`) and
 *   `portcullis_config_info{hash}` (gauge 1, the configuration applied last).
 *
 * Label values are bounded by the configuration: routes by name or path template (`unmatched`
 * for none), methods outside the standard set as `_OTHER`, targets as configured URLs without
 * credentials; never a raw path, a client address, a consumer id or a key.
 *
 * `prom-client` (^15) is an optional peer dependency, loaded only by this entry point.
 *
 * @example
 * import { Registry } from 'prom-client';
 * import { prometheusMetrics } from 'portcullis/metrics';
 *
 * const metrics = prometheusMetrics({ registry: new Registry() });
 * app.get('/metrics', metrics.handler);
 * app.use('/api', createGateway(config));
 */
export function prometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const parsed = parsePrometheusMetricsOptions(options);
  const registry = parsed.registry ?? new Registry();
  const { prefix, buckets } = parsed;
  for (const name of Object.values(NAMES)) {
    if (registry.getSingleMetric(prefix + name) !== undefined) {
      throw new GatewayConfigError(
        'registry',
        `already has a metric named '${prefix + name}' (another prometheusMetrics() on it?): ` +
          'close and clear it, or pass another registry or prefix',
      );
    }
  }

  const registers = [registry];
  const requests = new Counter({
    name: prefix + NAMES.requests,
    help: 'Requests the gateway handled, by route, method and the status the client received.',
    labelNames: ['route', 'method', 'status'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: prefix + NAMES.requestDuration,
    help: 'Time from a request entering the gateway to the end of its response, in seconds.',
    labelNames: ['route', 'method'] as const,
    buckets,
    registers,
  });
  const upstreamDuration = new Histogram({
    name: prefix + NAMES.upstreamDuration,
    help: 'Time of each upstream attempt (retries included), in seconds.',
    labelNames: ['route', 'target'] as const,
    buckets,
    registers,
  });
  const authFailures = new Counter({
    name: prefix + NAMES.authFailures,
    help: 'Requests refused by authentication (401, 403) or failed by a verifier (500), by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const refusals = new Counter({
    name: prefix + NAMES.refusals,
    help: 'Requests refused with 429, by route and by each policy that refused them.',
    labelNames: ['route', 'policy'] as const,
    registers,
  });
  const storeErrors = new Counter({
    name: prefix + NAMES.storeErrors,
    help: 'Rate-limit store calls that failed or timed out, by policy.',
    labelNames: ['policy'] as const,
    registers,
  });
  const targetUp = new Gauge({
    name: prefix + NAMES.targetUp,
    help: 'Whether the target takes traffic (1) or is marked down (0).',
    labelNames: ['route', 'target'] as const,
    registers,
  });
  const configUpdates = new Counter({
    name: prefix + NAMES.configUpdates,
    help: 'Configuration updates applied (updated) or refused (rejected).',
    labelNames: ['result'] as const,
    registers,
  });
  const configInfo = new Gauge({
    name: prefix + NAMES.configInfo,
    help: 'The hash of the configuration applied last (value 1).',
    labelNames: ['hash'] as const,
    registers,
  });

  /** route → target → whether target.health or an answer set the gauge already. */
  const targetsSeen = new Map<string, Set<string>>();
  function firstAnswer(route: string, target: string): void {
    let targets = targetsSeen.get(route);
    if (targets === undefined) {
      targets = new Set();
      targetsSeen.set(route, targets);
    }
    if (targets.has(target)) return;
    targets.add(target);
    targetUp.set({ route, target }, 1);
  }

  const handlers: { [T in GatewayEventType]?: (event: GatewayEventOf<T>) => void } = {
    'request.completed'(event) {
      const route = routeLabel(event.route);
      const method = methodLabel(event.method);
      requests.inc({ route, method, status: String(event.status) });
      requestDuration.observe({ route, method }, event.durationMs / 1000);
    },
    'proxy.response'(event) {
      const route = routeLabel(event.route);
      const target = targetLabel(event.target);
      upstreamDuration.observe({ route, target }, event.durationMs / 1000);
      firstAnswer(route, target);
    },
    'proxy.error'(event) {
      // No attempt was made when every target was down.
      if (event.target === undefined) return;
      upstreamDuration.observe(
        { route: routeLabel(event.route), target: targetLabel(event.target) },
        event.durationMs / 1000,
      );
    },
    'auth.failed'(event) {
      authFailures.inc({ reason: event.reason });
    },
    'ratelimit.refused'(event) {
      const route = routeLabel(event.route);
      for (const policy of event.policies) refusals.inc({ route, policy });
    },
    'ratelimit.store_error'(event) {
      for (const policy of event.policies) storeErrors.inc({ policy });
    },
    'target.health'(event) {
      const route = routeLabel(event.route);
      const target = targetLabel(event.target);
      firstAnswer(route, target);
      targetUp.set({ route, target }, event.healthy ? 1 : 0);
    },
    'config.updated'(event) {
      // Version 1 is the configuration a gateway was created with: not an update.
      if (event.version > 1) configUpdates.inc({ result: 'updated' });
      configInfo.reset();
      configInfo.set({ hash: event.hash }, 1);
    },
    'config.rejected'() {
      configUpdates.inc({ result: 'rejected' });
    },
  };

  // Only the channels these metrics read: subscribing to others would make every gateway build
  // events nobody uses.
  const subscriptions: Array<[string, (message: unknown) => void]> = [];
  for (const type of Object.keys(handlers) as GatewayEventType[]) {
    const handle = handlers[type] as (event: unknown) => void;
    const onMessage = (message: unknown): void => {
      try {
        handle(message);
      } catch {
        // A subscriber that throws is reported by Node as an uncaught exception, which would
        // take the host down for a metric: an event that cannot be counted is dropped instead.
      }
    };
    const name = channelName(type);
    subscribe(name, onMessage);
    subscriptions.push([name, onMessage]);
  }

  let closed = false;
  return {
    registry,
    handler: function metricsHandler(_req, res, next) {
      registry.metrics().then(
        (text) => {
          res.statusCode = 200;
          res.setHeader('Content-Type', registry.contentType);
          res.end(text);
        },
        (err: unknown) => {
          if (next) next(err);
          else if (!res.headersSent) {
            res.statusCode = 500;
            res.end();
          }
        },
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const [name, onMessage] of subscriptions) unsubscribe(name, onMessage);
    },
  };
}
