// The OpenTelemetry SDK of the 'portcullis+otel' scenario, set up as an application would before
// it serves: a tracer provider that samples every span, a batch span processor, the
// AsyncLocalStorage context manager and the W3C trace-context propagator. The exporter drops
// each batch, so the cost measured is the gateway's tracing and the SDK's, not a collector's.
// There is no HTTP server instrumentation: each upstream attempt is a root CLIENT span.

import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

/** Counts what it is given and drops it. */
class DiscardingExporter implements SpanExporter {
  spans = 0;
  export(
    spans: Parameters<SpanExporter['export']>[0],
    done: Parameters<SpanExporter['export']>[1],
  ) {
    this.spans += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
}

export interface BenchTracing {
  /** Spans exported so far (a scenario check: the gateway does trace). */
  exported(): number;
  close(): Promise<void>;
}

/** Registers the SDK globally; `close()` flushes, shuts it down and unregisters it. */
export function startTracing(): BenchTracing {
  const exporter = new DiscardingExporter();
  const provider = new TracerProvider({
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new BatchSpanProcessor({ exporter })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    exported: () => exporter.spans,
    close: async () => {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
