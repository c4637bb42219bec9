// The end-to-end scenarios, in the order they are reported.

export const SCENARIOS = [
  'direct',
  'hpm-bare',
  'hand-composed',
  'portcullis',
  'portcullis+metrics',
  'portcullis+otel',
  'hand-composed-redis',
  'portcullis-redis',
] as const;

export type ScenarioName = (typeof SCENARIOS)[number];

export interface ScenarioInfo {
  /** One line for the table's legend. */
  description: string;
  /** Answers 401 without the API key (checked before timing). */
  checksKey: boolean;
  /** The path the upstream must receive for REQUEST_PATH (checks the rewrite). */
  upstreamPath: string;
  usesRedis: boolean;
}

export const SCENARIO_INFO: Record<ScenarioName, ScenarioInfo> = {
  direct: {
    description: 'load straight at the node:http upstream, no proxy: the most this machine serves',
    checksKey: false,
    upstreamPath: '/api/svc/hello',
    usesRedis: false,
  },
  'hpm-bare': {
    description: 'express 5 + http-proxy-middleware 4, nothing else',
    checksKey: false,
    upstreamPath: '/api/svc/hello',
    usesRedis: false,
  },
  'hand-composed': {
    description:
      'express 5 + hand-written API-key check (Set) + express-rate-limit (MemoryStore) + http-proxy-middleware with pathRewrite',
    checksKey: true,
    upstreamPath: '/hello',
    usesRedis: false,
  },
  portcullis: {
    description:
      "express 5 + createGateway: API key + token bucket (MemoryStore) + route '/svc{/*path}' rewritten to '/{*path}'",
    checksKey: true,
    upstreamPath: '/hello',
    usesRedis: false,
  },
  'portcullis+metrics': {
    description:
      'portcullis with prometheusMetrics() subscribed (portcullis/metrics, a prom-client Registry; /metrics mounted, not scraped)',
    checksKey: true,
    upstreamPath: '/hello',
    usesRedis: false,
  },
  'portcullis+otel': {
    description:
      'portcullis with an OpenTelemetry SDK registered (@opentelemetry/sdk-trace, every span sampled, batch processor, an exporter that drops the batches): a CLIENT span per request, its traceparent sent upstream',
    checksKey: true,
    upstreamPath: '/hello',
    usesRedis: false,
  },
  'hand-composed-redis': {
    description: 'hand-composed with express-rate-limit on rate-limit-redis (ioredis)',
    checksKey: true,
    upstreamPath: '/hello',
    usesRedis: true,
  },
  'portcullis-redis': {
    description: 'portcullis with RedisStore (ioredis)',
    checksKey: true,
    upstreamPath: '/hello',
    usesRedis: true,
  },
};

export function isScenarioName(value: unknown): value is ScenarioName {
  return typeof value === 'string' && (SCENARIOS as readonly string[]).includes(value);
}
