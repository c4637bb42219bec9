import type {
  ClientRequest,
  IncomingHttpHeaders,
  IncomingMessage,
  ServerResponse,
} from 'node:http';
import { performance } from 'node:perf_hooks';
import { isListening } from '../events.js';
import type { InternalContext } from '../pipeline.js';
import { requestTunnelled } from '../request-completed.js';
import type { ResolvedRouteOptions, RouteProxyOptions } from '../schema/route.js';
import { type UpstreamSpans, upstreamSpans } from '../tracing/upstream-spans.js';
import type { GatewayRequest } from '../types.js';
import { armTimers, clearTimers, watchRequestBody } from './exchange-timers.js';
import { type ExchangeOwner, type ForwardState, STATE, type WithState } from './forward-state.js';
import { openTunnel, sendRequest } from './forwarder.js';
import { connectionNamed, copyHeadersExcept, HOP_BY_HOP_RESPONSE } from './hop-by-hop.js';
import { ProxyMiddlewareForwarder } from './proxy-middleware.js';
import { hasStreamedBody, parsedBody } from './request-body.js';
import type { TargetPool, UpstreamTarget } from './targets.js';
import { UPGRADE_HEAD } from './upgrades.js';
import { classifyUpstreamError, FAILURE_DETAIL, type UpstreamFailure } from './upstream-errors.js';
import type { RouteUpstreams } from './upstreams.js';

/** Methods retried after a connection failure (RFC 9110 §9.2.2 idempotent methods). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** The 408 ends the connection: the rest of the stalled body will never be read. */
const CLOSE_CONNECTION = { Connection: 'close' };

/**
 * Whether a route's `proxy` options need http-proxy-middleware: any option but
 * `agent` (which portcullis' own forwarder hands to Node as it is).
 *
 * @example
 * usesProxyMiddleware({ agent }); // false
 * usesProxyMiddleware({ cookieDomainRewrite: 'example.com' }); // true
 */
export function usesProxyMiddleware(proxy: RouteProxyOptions): boolean {
  for (const key in proxy) if (key !== 'agent') return true;
  return false;
}

/**
 * The forwarding half of a route: picks a target, sends the request through
 * portcullis' own forwarder (`forwarder.ts`) or, for a route with `proxy`
 * pass-through options, through http-proxy-middleware (`proxy-middleware.ts`),
 * and owns everything around the sending: timeouts, retries, passive health,
 * the 502/503/504 (and 408) answers, response header rules and the
 * `proxy.response` / `proxy.error` events. Its targets, agents and send queue
 * are given to it ({@link RouteUpstreams}). Timeouts default to the route's
 * (`'30s'`, connect `'5s'`), `retries` to 0.
 *
 * Each upstream attempt starts in `attemptStarted` and ends in `attemptEnded`:
 * the one place per attempt where it is timed and reported.
 *
 * @example
 * const proxy = new RouteProxy(resolved, ctx, upstreams.forRoute(resolved));
 * proxy.forward(req, res); // after req.url was rewritten and headers prepared
 */
export class RouteProxy implements ExchangeOwner {
  readonly timeoutMs: number;
  private readonly pool: TargetPool;
  private readonly hpm: ProxyMiddlewareForwarder | null;
  /** How events name the route: its `name`, else its path template. */
  private readonly label: string;
  private readonly retries: number;
  private readonly connectTimeoutMs: number;
  private readonly preserveHost: boolean;
  /** Upstream response headers never copied to the client: hop-by-hop, `X-Request-Id`, the route's `remove`. */
  private readonly responseSkip: ReadonlySet<string>;
  /** Whether the client response gets the gateway's own `Connection` (not when the route removes it). */
  private readonly setsConnection: boolean;
  private readonly responseSet: ReadonlyArray<readonly [string, string]>;
  private readonly hostIsSet: boolean;
  /** A CLIENT span per attempt; null when `@opentelemetry/api` is not installed. */
  private readonly spans: UpstreamSpans | null;

  constructor(
    options: ResolvedRouteOptions,
    private readonly ctx: InternalContext,
    private readonly upstreams: RouteUpstreams,
  ) {
    this.pool = upstreams.pool;
    this.label = options.name ?? options.path;
    this.retries = options.retries;
    this.timeoutMs = options.timeoutMs;
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.preserveHost = options.preserveHost;
    const responseRemove = options.responseHeaders.remove;
    // The gateway's id is the one echoed, never the upstream's.
    this.responseSkip = new Set([...HOP_BY_HOP_RESPONSE, 'x-request-id', ...responseRemove]);
    this.setsConnection = !responseRemove.has('connection');
    this.responseSet = options.responseHeaders.set;
    this.hostIsSet = options.requestHeaders.set.some(([name]) => name === 'host');
    this.hpm = usesProxyMiddleware(options.proxy)
      ? new ProxyMiddlewareForwarder(options.proxy, upstreams, options.websocket)
      : null;
    this.spans = upstreamSpans();
  }

  /**
   * Forwards a matched request whose URL was already rewritten (route.ts has refused upgrades the
   * route may not tunnel). Answers 503 when every target is down; otherwise the outcome is
   * reported by the exchange's listeners. Does nothing for a response already destroyed.
   */
  forward(req: GatewayRequest, res: ServerResponse): void {
    // The client left (or a draining gateway cut it) while auth and limits were decided: its
    // 'close' has been emitted already, so nothing would ever abort an upstream request.
    if (res.destroyed) return;
    const head = (req as WithHead<GatewayRequest>)[UPGRADE_HEAD];
    const tunnel = head !== undefined;
    const target = this.pool.pick();
    if (target === null) {
      this.allDown(req, res);
      return;
    }
    const body = tunnel ? null : parsedBody(req);
    const headers = req.headers;
    const state: ForwardState = {
      proxy: this,
      req,
      res,
      target,
      attempt: 0,
      attemptStartedAt: 0,
      trace: null,
      body,
      replayable: body !== null || !hasStreamedBody(req),
      unframed:
        headers['content-length'] === undefined && headers['transfer-encoding'] === undefined,
      tunnel,
      head: head ?? null,
      proxyReq: null,
      proxyRes: null,
      waitsForDrain: false,
      connectTimer: null,
      responseTimer: null,
      bodyTimer: null,
      staleRetried: false,
      upgraded: false,
      done: false,
    };
    (req as WithState<GatewayRequest>)[STATE] = state;
    // `on`, not `once`: a response emits 'close' once (Node guards it), and once() would wrap the
    // listener in a new closure per request. finish() is idempotent anyway.
    res.on('close', onClientClose);
    this.attemptStarted(state, target);
    this.send(state);
  }

  /** Sends the request of the current attempt (again, after a stale pooled connection). */
  private send(state: ForwardState): void {
    state.proxyReq = null;
    if (state.trace !== null && this.spans !== null) this.spans.within(state, this.sendNow, this);
    else this.sendNow(state);
  }

  private sendNow(state: ForwardState): void {
    if (state.tunnel) {
      if (this.hpm !== null) this.hpm.tunnel(state);
      else openTunnel(state, this.upstreams.tunnelAgent);
    } else if (this.hpm !== null) this.hpm.send(state);
    else this.upstreams.queue.push(state);
  }

  transmit(state: ForwardState): void {
    if (state.trace !== null && this.spans !== null)
      this.spans.within(state, this.transmitNow, this);
    else this.transmitNow(state);
  }

  private transmitNow(state: ForwardState): void {
    sendRequest(state, this.upstreams.agentFor(state.target));
  }

  /**
   * An upstream attempt starts: the one place (its `Host`, its timing for events, its tracing
   * span, whose context is injected into the upstream headers).
   */
  private attemptStarted(state: ForwardState, target: UpstreamTarget): void {
    state.attempt++;
    state.target = target;
    // Only events report a duration; asked per attempt, as a subscriber may come at any time.
    const emit = this.ctx.emit;
    state.attemptStartedAt =
      isListening(emit, 'proxy.response') || isListening(emit, 'proxy.error')
        ? performance.now()
        : 0;
    const req = state.req;
    const route = req.gateway?.route;
    if (route !== undefined) route.target = target.display;
    if (!this.hostIsSet && (!this.preserveHost || req.headers.host === undefined)) {
      req.headers.host = target.hostHeader;
    }
    this.spans?.attemptStarted(state);
  }

  /**
   * An upstream attempt ended, with the status the client got (or would have got, for an attempt
   * that is retried): the one place its `proxy.response` / `proxy.error` event is built.
   */
  private attemptEnded(
    state: ForwardState,
    type: 'proxy.response' | 'proxy.error',
    status: number,
    failure?: { code: string; error: string },
  ): void {
    if (state.trace !== null) {
      // The upstream's status, when it answered (a relayed response, or one cut after its head).
      const answered = type === 'proxy.response' || state.res.headersSent;
      this.spans?.attemptEnded(state, answered ? status : 0, failure?.code, failure?.error);
    }
    if (state.attemptStartedAt === 0) return;
    const common = {
      requestId: state.req.gateway?.requestId ?? '',
      route: this.label,
      target: state.target.display,
      attempt: state.attempt,
      status,
      durationMs: Math.round((performance.now() - state.attemptStartedAt) * 1000) / 1000,
    };
    if (type === 'proxy.response') this.ctx.emit({ type, ...common });
    else this.ctx.emit({ type, ...common, code: failure?.code ?? '', error: failure?.error ?? '' });
  }

  /** Writes the upstream's status and headers (less hop-by-hop and the route's `remove`) to the client. */
  relayHead(proxyRes: IncomingMessage, res: ServerResponse): void {
    res.statusCode = proxyRes.statusCode ?? 502;
    if (proxyRes.statusMessage) res.statusMessage = proxyRes.statusMessage;
    // No `Connection` of the gateway's own: Node writes it from the response's framing (an
    // HTTP/1.0 client without a length gets `close`), as it does for any response.
    const headers = this.responseHeaders(proxyRes);
    for (const name in headers) res.setHeader(name, headers[name] as string | string[]);
    proxyRes.on('close', onUpstreamResponseClose);
  }

  filterResponse(proxyRes: IncomingMessage, res: ServerResponse): void {
    const headers = this.responseHeaders(proxyRes);
    // httpxy would copy the request's `Connection` (none: it is hop-by-hop): set Node's own decision.
    if (this.setsConnection) headers.connection = res.shouldKeepAlive ? 'keep-alive' : 'close';
    proxyRes.headers = headers;
    (proxyRes as WithState<IncomingMessage>)[STATE] = (res.req as WithState<IncomingMessage>)[
      STATE
    ];
    // `on` for the same reason as the client's 'close' (fail() is idempotent).
    proxyRes.on('close', onUpstreamResponseClose);
  }

  /**
   * The upstream's response headers as the client receives them: hop-by-hop, `Connection`-named
   * and the route's `remove` left out (rebuilt in one pass, see copyHeadersExcept), then the
   * route's `set`.
   */
  private responseHeaders(proxyRes: IncomingMessage): IncomingHttpHeaders {
    const received = proxyRes.headers;
    const headers = copyHeadersExcept(
      received,
      this.responseSkip,
      connectionNamed(received.connection),
    );
    const set = this.responseSet;
    for (let i = 0; i < set.length; i++) {
      const entry = set[i] as readonly [string, string];
      headers[entry[0]] = entry[1];
    }
    return headers;
  }

  upstreamSocket(proxyReq: ClientRequest, state: ForwardState): void {
    if (state.done) {
      proxyReq.destroy();
      return;
    }
    armTimers(proxyReq, state, this.connectTimeoutMs);
  }

  bodyStreaming(state: ForwardState): void {
    watchRequestBody(state);
  }

  upstreamError(err: Error, state: ForwardState): void {
    if (state.req.socket.destroyed && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
      // The client went away first: finish() reports it.
      state.proxyReq?.destroy();
      return;
    }
    this.onError(err, state);
  }

  private allDown(req: GatewayRequest, res: ServerResponse): void {
    const retryAfter = this.pool.retryAfterSeconds();
    if (isListening(this.ctx.emit, 'proxy.error')) {
      this.ctx.emit({
        type: 'proxy.error',
        requestId: req.gateway?.requestId ?? '',
        route: this.label,
        // No target could be tried.
        attempt: 0,
        status: 503,
        code: 'service_unavailable',
        error: 'all targets down',
        durationMs: 0,
      });
    }
    this.ctx.sendProblem(req, res, {
      code: 'service_unavailable',
      detail: 'Every upstream target of this route is temporarily unavailable.',
      headers: { 'Retry-After': String(retryAfter) },
    });
  }

  private onError(err: Error, state: ForwardState): void {
    if (state.done) return;
    clearTimers(state);
    const { req, res } = state;
    const failure = classifyUpstreamError(err);
    // Passive health, as nginx's max_fails=1: an unreachable target, or one that kept a request
    // unanswered past `timeout`, is skipped for the cooldown (never the only target of a route).
    if (failure.connect) {
      this.pool.markDown(
        state.target,
        failure.reason === 'connect timeout' ? 'timeout' : 'connect_failed',
      );
    } else if (failure.code === 'gateway_timeout' && !res.headersSent) {
      this.pool.markDown(state.target, 'timeout');
    }
    if (!state.tunnel && !res.headersSent && state.replayable && IDEMPOTENT.has(req.method ?? '')) {
      const stale =
        !state.staleRetried &&
        (err as NodeJS.ErrnoException).code === 'ECONNRESET' &&
        state.proxyReq?.reusedSocket === true;
      if (stale) {
        // A pooled connection the upstream had closed: Node's documented case for one retry. The
        // request never reached the upstream, so it is the same attempt, sent again.
        state.staleRetried = true;
        this.send(state);
        return;
      }
      if (failure.connect && state.attempt <= this.retries) {
        const next = this.pool.pick();
        if (next !== null) {
          this.attemptEnded(state, 'proxy.error', 502, {
            code: failure.code,
            error: failure.reason,
          });
          this.attemptStarted(state, next);
          this.send(state);
          return;
        }
      }
    }
    this.fail(state, failure);
  }

  /**
   * Reports a failed exchange once and aborts the upstream request: a problem when nothing was
   * sent yet (502/504, or 408 with the connection closed when the client's body stalled), else
   * the client response is cut.
   */
  fail(state: ForwardState, failure: UpstreamFailure): void {
    if (state.done) return;
    state.done = true;
    clearTimers(state);
    state.proxyReq?.destroy();
    const { req, res } = state;
    const code = failure.code;
    const status = code === 'gateway_timeout' ? 504 : code === 'request_timeout' ? 408 : 502;
    const answered = res.headersSent;
    this.attemptEnded(state, 'proxy.error', answered ? res.statusCode : status, {
      code: answered && code !== 'request_timeout' ? 'response_aborted' : code,
      error: failure.reason,
    });
    if (state.upgraded) {
      res.socket?.destroy();
      return;
    }
    if (answered || res.destroyed) {
      res.destroy();
      return;
    }
    this.ctx.sendProblem(req, res, {
      code,
      detail: FAILURE_DETAIL[code],
      headers: code === 'request_timeout' ? CLOSE_CONNECTION : undefined,
    });
  }

  /** The client response is over: report it, or abort the upstream if the client left first. */
  finish(state: ForwardState): void {
    if (state.done) return;
    state.done = true;
    clearTimers(state);
    const { res } = state;
    if (res.writableFinished) {
      this.attemptEnded(state, 'proxy.response', res.statusCode);
      return;
    }
    state.proxyReq?.destroy();
    this.attemptEnded(state, 'proxy.error', res.headersSent ? res.statusCode : 499, {
      code: 'client_aborted',
      error: 'the client closed the connection before the response was complete',
    });
  }

  /** The upstream's 101: it and the frames are written straight on the client's socket from now on. */
  tunnelOpened(state: ForwardState): void {
    state.upgraded = true;
    this.handshakeAnswered(state, 101);
  }

  /** The upstream refused the upgrade: http-proxy-middleware writes its answer on the socket and ends it. */
  tunnelRefused(state: ForwardState, status: number): void {
    if (state.done) return;
    this.handshakeAnswered(state, status);
  }

  /**
   * A WebSocket handshake was answered on the client's socket with `status`. The response object
   * will never emit 'close' now: the request is over for request.completed, and in flight (for a
   * gateway's drain) until the client socket closes.
   */
  private handshakeAnswered(state: ForwardState, status: number): void {
    state.done = true;
    clearTimers(state);
    const { res } = state;
    const socket = res.socket;
    if (socket) res.detachSocket(socket);
    this.attemptEnded(state, 'proxy.response', status);
    requestTunnelled(res, status, socket);
  }

  /** Nothing of its own to release: the targets and agents belong to the {@link RouteUpstreams}' owner. */
  async close(): Promise<void> {}
}

type WithHead<T> = T & { [UPGRADE_HEAD]?: Buffer };

function onClientClose(this: ServerResponse): void {
  const state = (this.req as WithState<IncomingMessage>)[STATE];
  if (state !== undefined) state.proxy.finish(state);
}

function onUpstreamResponseClose(this: WithState<IncomingMessage>): void {
  if (this.complete) return;
  const state = this[STATE];
  // The upstream died (or timed out) in the middle of its response: end the client's too.
  if (state !== undefined)
    state.proxy.fail(state, {
      code: 'bad_gateway',
      connect: false,
      reason: 'upstream closed mid-response',
    });
}
