// portcullis/metrics — Prometheus metrics for every portcullis gateway in the process.
// The only entry point that loads prom-client (an optional peer dependency); public exports,
// one line each.

export type { PrometheusMetrics, PrometheusMetricsOptions } from './prometheus-metrics.js';
export { DEFAULT_BUCKETS, prometheusMetrics } from './prometheus-metrics.js';
