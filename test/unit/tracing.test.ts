// How the core finds OpenTelemetry: the optional peer is resolved once (here it is installed as a
// dev dependency, and loaded as its CommonJS copy while this file imports the ES module copy),
// and "a tracer provider is registered" is asked per call, so a provider registered or removed
// later is seen at once.
import { trace } from '@opentelemetry/api';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TRACER_NAME, tracing } from '../../src/tracing/tracing.js';

afterEach(() => {
  trace.disable();
});

describe('tracing()', () => {
  it('finds @opentelemetry/api once, and sees the global state the host registered through its own copy', () => {
    const found = tracing();
    expect(found).not.toBeNull();
    expect(tracing()).toBe(found);
    // Two copies of the API module, one global registry.
    expect(found?.api.trace).not.toBe(trace);
    const provider = new TracerProvider();
    expect(found?.tracer()).toBeNull();
    trace.setGlobalTracerProvider(provider);
    const tracer = found?.tracer();
    expect(tracer).not.toBeNull();
    expect(tracer?.startSpan('x').isRecording()).toBe(true);
  });

  it('asks for the tracer once per provider and follows a provider that changes', () => {
    const found = tracing();
    const first = new TracerProvider();
    const getTracer = vi.spyOn(first, 'getTracer');
    trace.setGlobalTracerProvider(first);
    const a = found?.tracer();
    expect(found?.tracer()).toBe(a);
    expect(getTracer.mock.calls).toEqual([[TRACER_NAME]]);
    trace.disable();
    expect(found?.tracer()).toBeNull();
    const second = new TracerProvider();
    trace.setGlobalTracerProvider(second);
    const b = found?.tracer();
    expect(b).not.toBeNull();
    expect(b).not.toBe(a);
  });
});
