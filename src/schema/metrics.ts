import type { Registry } from 'prom-client';
import * as z from 'zod';
import { codeOnly } from './meta.js';
import { fail, parseOptions, STANDALONE } from './parse.js';

const PROMETHEUS_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * The default histogram buckets, in seconds: those OpenTelemetry's HTTP semantic conventions
 * advise for `http.server.request.duration` and `http.client.request.duration`.
 *
 * @example
 * prometheusMetrics({ buckets: [...DEFAULT_BUCKETS, 30, 60] });
 */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
]);

/**
 * The options of `prometheusMetrics()`.
 *
 * @example
 * parsePrometheusMetricsOptions({ prefix: 'edge_' }).prefix; // 'edge_'
 */
export const prometheusMetricsOptions = z.strictObject({
  /**
   * The prom-client `Registry` the metrics are registered in. Default: a new `Registry` of
   * their own (never prom-client's global `register` unless you pass it). Checked by shape,
   * so a registry from another copy of prom-client works.
   */
  registry: codeOnly<Registry>('must be a prom-client Registry (new Registry())', (value) => {
    const candidate = value as Partial<Registry> | null;
    return (
      candidate !== null &&
      typeof candidate === 'object' &&
      typeof candidate.registerMetric === 'function' &&
      typeof candidate.getSingleMetric === 'function' &&
      typeof candidate.metrics === 'function'
    );
  }).optional(),
  /** Prepended to every metric name. Default `'portcullis_'`. */
  prefix: z
    .string({
      error:
        "must be '' or start a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), e.g. 'edge_'",
    })
    .check((ctx) => {
      if (ctx.value !== '' && !PROMETHEUS_NAME.test(ctx.value)) {
        fail(
          ctx,
          "must be '' or start a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), e.g. 'edge_'",
          {
            showInput: true,
          },
        );
      }
    })
    .default('portcullis_'),
  /** Histogram buckets in seconds, ascending. Default {@link DEFAULT_BUCKETS} (5 ms … 10 s). */
  buckets: z
    .array(
      z
        .number({ error: 'must be a positive number of seconds' })
        .positive({ error: 'must be a positive number of seconds' }),
      { error: 'must be a non-empty array of seconds, e.g. [0.1, 1, 10]' },
    )
    .min(1, { error: 'must be a non-empty array of seconds, e.g. [0.1, 1, 10]' })
    .check((ctx) => {
      for (let i = 1; i < ctx.value.length; i++) {
        if ((ctx.value[i] as number) <= (ctx.value[i - 1] as number)) {
          fail(ctx, 'must be greater than the bucket before it', { path: [i] });
        }
      }
    })
    .optional(),
});

/**
 * Options of `prometheusMetrics`.
 *
 * @example
 * const options: PrometheusMetricsOptions = { registry: new Registry(), prefix: 'edge_' };
 */
export type PrometheusMetricsOptions = z.input<typeof prometheusMetricsOptions>;

/**
 * Parses `prometheusMetrics()`'s options (paths without a prefix: `buckets[1]`); throws
 * `GatewayConfigError`.
 *
 * @example
 * const { registry, prefix, buckets } = parsePrometheusMetricsOptions({});
 */
export function parsePrometheusMetricsOptions(input: unknown): {
  registry: Registry | undefined;
  prefix: string;
  buckets: number[];
} {
  const { value } = parseOptions(prometheusMetricsOptions, input, STANDALONE);
  return {
    registry: value.registry,
    prefix: value.prefix,
    buckets: value.buckets ?? [...DEFAULT_BUCKETS],
  };
}
