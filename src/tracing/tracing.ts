import { createRequire } from 'node:module';
import type * as OpenTelemetryApi from '@opentelemetry/api';
import type { Tracer, TracerProvider } from '@opentelemetry/api';

// The one place portcullis finds OpenTelemetry. `@opentelemetry/api` is an optional peer: the
// core never imports it (only its types, which the build erases). It is looked up once per
// process, synchronously, the first time a route is built; when it is not installed, tracing is
// off for good and costs one null check per upstream attempt.

/**
 * The instrumentation scope of every span portcullis starts.
 *
 * @example
 * trace.getTracer(TRACER_NAME);
 */
export const TRACER_NAME = 'portcullis';

/**
 * What the tracing code needs: the API as loaded, and whether a tracer provider is registered
 * now.
 *
 * @example
 * const tracer = tracing()?.tracer() ?? null; // null: no tracing work for this request
 */
export interface Tracing {
  /** `@opentelemetry/api`, as loaded from beside portcullis. */
  readonly api: typeof OpenTelemetryApi;
  /**
   * portcullis' tracer when the host registered a tracer provider, else null. Asked per request
   * (providers are often registered after the gateway is built); cheap: a read of the API's
   * global and one comparison, the tracer itself fetched once per provider.
   */
  tracer(): Tracer | null;
}

/** The ProxyTracerProvider the API hands out: its delegate is the registered provider. */
type DelegatingProvider = TracerProvider & { getDelegate?: () => TracerProvider };

class ApiTracing implements Tracing {
  /** The delegate of a proxy provider nobody registered a provider behind: the API's no-op. */
  private readonly noop: TracerProvider | null;
  private provider: TracerProvider | null = null;
  private cached: Tracer | null = null;

  constructor(readonly api: typeof OpenTelemetryApi) {
    // `ProxyTracerProvider` is exported by every 1.x API (deprecated as an export since 1.10, to
    // be internal in 2.0): a fresh one has no delegate, so it names the API's no-op provider.
    const ProxyProvider = api.ProxyTracerProvider as (new () => DelegatingProvider) | undefined;
    this.noop =
      typeof ProxyProvider === 'function' ? (new ProxyProvider().getDelegate?.() ?? null) : null;
  }

  tracer(): Tracer | null {
    const global = this.api.trace.getTracerProvider() as DelegatingProvider;
    // Before any registration this is the API's own proxy, which delegates to the no-op; after
    // it, the proxy of whichever copy of the API registered (they share one global).
    const current = typeof global.getDelegate === 'function' ? global.getDelegate() : global;
    if (current === this.noop) return null;
    if (current !== this.provider) {
      this.provider = current;
      this.cached = current.getTracer(TRACER_NAME);
    }
    return this.cached;
  }
}

let resolved: Tracing | null | undefined;

/**
 * The tracing of this process: null when `@opentelemetry/api` is not installed (then the
 * gateway does no tracing work at all). Resolved on first call, once.
 *
 * @example
 * const t = tracing();
 * if (t !== null && t.tracer() !== null) { … }
 */
export function tracing(): Tracing | null {
  if (resolved === undefined) resolved = load();
  return resolved;
}

function load(): Tracing | null {
  let api: typeof OpenTelemetryApi;
  try {
    // Synchronous and from this file's own location, so both builds find the API installed
    // beside portcullis: the CommonJS build from its `__filename`, the ES module build (and the
    // sources under tsx or vitest) from `import.meta.url` (which tsup's `shims` define in the
    // CommonJS build too, unused there). Either way the CommonJS copy of the API is loaded; it
    // keeps its state on globalThis, so it sees the provider, context manager and propagator a
    // host registered through the ES module copy, and the other way round.
    const here = typeof __filename === 'string' ? __filename : import.meta.url;
    api = createRequire(here)('@opentelemetry/api') as typeof OpenTelemetryApi;
  } catch {
    // Not installed (or not loadable): no tracing, and nothing to report.
    return null;
  }
  if (typeof api?.trace?.getTracerProvider !== 'function') return null;
  return new ApiTracing(api);
}
