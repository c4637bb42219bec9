import type { IncomingHttpHeaders } from 'node:http';
import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import { OTHER_METHOD, STANDARD_METHODS } from '../metrics/labels.js';
import type { ForwardState } from '../route/forward-state.js';
import type { UpstreamTarget } from '../route/targets.js';
import { type Tracing, tracing } from './tracing.js';

/**
 * The tracing of one forwarded request, on its state (`state.trace`): made at its first upstream
 * attempt when a tracer provider is registered, else the request stays untraced, retries
 * included.
 *
 * @example
 * if (state.trace !== null) state.trace.span; // the current attempt's CLIENT span
 */
export interface RequestTrace {
  readonly tracer: Tracer;
  /** What every attempt of the request is a child of. */
  readonly parent: Context;
  /** The current attempt's span; null between attempts. */
  span: Span | null;
  /** `parent` with the current attempt's span: the context its upstream request is made in. */
  context: Context;
}

/** `url.full`'s scheme, host and port (credentials redacted) and path prefix, by target. */
const URL_BASES = new WeakMap<UpstreamTarget, string>();

/**
 * A CLIENT span per upstream attempt (retries included), after OpenTelemetry's HTTP client
 * semantic conventions, with the span's trace context injected into the upstream request through
 * the registered propagator. One per route proxy; {@link upstreamSpans} gives null when
 * `@opentelemetry/api` is not installed, so an untraced gateway pays one null check per attempt.
 *
 * - name: the method (`GET`), `HTTP` for a method outside the standard set;
 * - at start: `http.request.method` (`_OTHER` plus `http.request.method_original` for a
 *   non-standard method), `server.address`, `server.port` (the target's), `url.full` (the target
 *   URL and the forwarded path, without the query; credentials as `REDACTED:REDACTED`),
 *   `http.request.resend_count` on a retry (attempt 2 → 1);
 * - at end: `http.response.status_code` when the upstream answered; on a 5xx or a failure,
 *   `error.type` (the status, or the `proxy.error` code: `bad_gateway`, `gateway_timeout`,
 *   `request_timeout`, `response_aborted`, `client_aborted`) and status `ERROR` (with the
 *   failure's short reason as its message).
 *
 * @example
 * const spans = upstreamSpans();
 * spans?.attemptStarted(state); // after state.attempt and state.target were set
 */
export class UpstreamSpans {
  constructor(private readonly tracing: Tracing) {}

  /**
   * Starts the span of the state's current attempt (its first attempt decides whether the
   * request is traced at all) and injects its context into the upstream request's headers:
   * the propagator's fields a client sent are replaced, like every instrumented client does.
   */
  attemptStarted(state: ForwardState): void {
    let trace = state.trace;
    if (trace === null) {
      if (state.attempt !== 1) return;
      const tracer = this.tracing.tracer();
      if (tracer === null) return;
      const parent = this.parentContext(state.req.headers);
      trace = { tracer, parent, span: null, context: parent };
      state.trace = trace;
    }
    const api = this.tracing.api;
    const { req, target } = state;
    const method = req.method ?? 'GET';
    const known = STANDARD_METHODS.has(method);
    const attributes: Attributes = {
      'http.request.method': known ? method : OTHER_METHOD,
      'server.address': target.hostname,
      'server.port': target.port,
      'url.full': fullUrl(target, req.url ?? '/'),
    };
    if (!known) attributes['http.request.method_original'] = method;
    if (state.attempt > 1) attributes['http.request.resend_count'] = state.attempt - 1;
    const span = trace.tracer.startSpan(
      known ? method : 'HTTP',
      { kind: api.SpanKind.CLIENT, attributes },
      trace.parent,
    );
    trace.span = span;
    trace.context = api.trace.setSpan(trace.parent, span);
    const headers = req.headers;
    const propagation = api.propagation;
    const fields = propagation.fields();
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i] as string;
      if (headers[field] !== undefined) delete headers[field];
    }
    propagation.inject(trace.context, headers);
  }

  /**
   * Ends the current attempt's span. `status`: the upstream's status when it answered, else 0.
   * `errorType` and `reason` when the attempt failed (`proxy.error`'s `code` and `error`).
   */
  attemptEnded(
    state: ForwardState,
    status: number,
    errorType: string | undefined,
    reason: string | undefined,
  ): void {
    const trace = state.trace;
    const span = trace?.span ?? null;
    if (trace === null || span === null) return;
    trace.span = null;
    if (span.isRecording()) {
      if (status !== 0) span.setAttribute('http.response.status_code', status);
      const type = errorType ?? (status >= 500 ? String(status) : undefined);
      if (type !== undefined) {
        span.setAttribute('error.type', type);
        const code = this.tracing.api.SpanStatusCode.ERROR;
        span.setStatus(reason === undefined ? { code } : { code, message: reason });
      }
    }
    span.end();
  }

  /**
   * Runs `send` (which makes the upstream request) in the context of the current attempt's
   * span, so that an HTTP client instrumentation under portcullis (such as
   * `@opentelemetry/instrumentation-http`) nests its span under this attempt's, never under
   * another request's: the send queue makes requests at the end of a loop turn, outside the
   * request's own context.
   */
  within<T>(state: ForwardState, send: (this: T, state: ForwardState) => void, owner: T): void {
    const trace = state.trace;
    if (trace === null || trace.span === null) send.call(owner, state);
    else this.tracing.api.context.with(trace.context, send, owner, state);
  }

  /**
   * The active context when it holds a span (the host's server span, from its HTTP
   * instrumentation or its own middleware); otherwise the context the registered propagator
   * extracts from the request's headers, so that the caller's trace continues.
   */
  private parentContext(headers: IncomingHttpHeaders): Context {
    const api = this.tracing.api;
    const active = api.context.active();
    if (api.trace.getSpan(active) !== undefined) return active;
    return api.propagation.extract(active, headers);
  }
}

/**
 * The route proxies' span maker, or null when `@opentelemetry/api` is not installed.
 *
 * @example
 * this.spans = upstreamSpans();
 */
export function upstreamSpans(): UpstreamSpans | null {
  const found = tracing();
  return found === null ? null : new UpstreamSpans(found);
}

/** The target URL and the forwarded path, without the query. */
function fullUrl(target: UpstreamTarget, url: string): string {
  let base = URL_BASES.get(target);
  if (base === undefined) {
    const { protocol, host } = target.url;
    // The semantic conventions' form for a URL that carried credentials.
    const auth = target.auth === undefined ? '' : 'REDACTED:REDACTED@';
    base = `${protocol}//${auth}${host}${target.pathPrefix}`;
    URL_BASES.set(target, base);
  }
  const query = url.indexOf('?');
  return base + (query === -1 ? url : url.slice(0, query));
}
