import {
  type ClientRequest,
  Agent as HttpAgent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import {
  createProxyMiddleware,
  type Options as HpmOptions,
  type Plugin,
} from 'http-proxy-middleware';
import { isListening } from '../events.js';
import type { InternalContext } from '../pipeline.js';
import { requestTunnelled } from '../request-completed.js';
import type { GatewayRequest } from '../types.js';
import { type DirectUpstream, sendDirect, useDirectStream } from './direct-stream.js';
import { type ExchangeOwner, type ForwardState, STATE, type WithState } from './forward-state.js';
import { connectionNamed, copyHeadersExcept, HOP_BY_HOP_RESPONSE } from './hop-by-hop.js';
import type { ResolvedRouteOptions } from './options.js';
import { hasStreamedBody, parsedBody } from './request-body.js';
import { TargetPool, type UpstreamTarget } from './targets.js';
import { UPGRADE_HEAD } from './upgrades.js';
import {
  classifyUpstreamError,
  FAILURE_DETAIL,
  type UpstreamFailure,
  UpstreamTimeoutError,
} from './upstream-errors.js';

/** The http-proxy server that http-proxy-middleware creates, as its plugins receive it. */
type ProxyServer = Parameters<Plugin>[0];
/** http-proxy's per-call options (`web(req, res, options)`). */
type ProxyCallOptions = NonNullable<Parameters<ProxyServer['web']>[2]>;

/** Methods retried after a connection failure (RFC 9110 §9.2.2 idempotent methods). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Free keep-alive sockets are closed after this, below Node's default server keepAliveTimeout (5 s). */
const FREE_SOCKET_TIMEOUT_MS = 4_000;

/** A target and the http-proxy options that reach it, built once. */
interface TargetRoute {
  readonly target: UpstreamTarget;
  readonly web: ProxyCallOptions;
  readonly ws: ProxyCallOptions;
  /** Where the direct stream pass sends (when the route uses it). */
  readonly upstream: DirectUpstream;
}

/**
 * The forwarding half of a route: one http-proxy-middleware instance (its
 * default plugins ejected, so it prints nothing), its http-proxy server driven
 * directly, keep-alive agents, the targets and their options, all built at
 * construction. Per request it only rewrites headers and calls `web()`/`ws()`.
 * Timeouts default to the route's (`'30s'`, connect `'5s'`), `retries` to 0.
 *
 * @example
 * const proxy = new RouteProxy(resolveRouteOptions(options, '', true), ctx);
 * proxy.forward(req, res); // after req.url was rewritten and headers prepared
 */
export class RouteProxy implements ExchangeOwner {
  readonly pool: TargetPool;
  private readonly server: ProxyServer;
  private readonly byTarget = new Map<UpstreamTarget, TargetRoute>();
  /** The target whose web options are the server's own (a route with one target), else null. */
  private readonly globalTarget: UpstreamTarget | null = null;
  private readonly agents: Array<HttpAgent | HttpsAgent> = [];
  /** How events name the route: its `name`, else its path template. */
  private readonly label: string;
  private readonly retries: number;
  readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly preserveHost: boolean;
  /** Upstream response headers never copied to the client: hop-by-hop, `X-Request-Id`, the route's `remove`. */
  private readonly responseSkip: ReadonlySet<string>;
  /** Whether the client response gets the gateway's own `Connection` (not when the route removes it). */
  private readonly setsConnection: boolean;
  private readonly responseSet: ReadonlyArray<readonly [string, string]>;
  private readonly hostIsSet: boolean;
  /** Requests go through the direct stream pass (see direct-stream.ts), not http-proxy's own. */
  private readonly direct: boolean;

  constructor(
    private readonly options: ResolvedRouteOptions,
    private readonly ctx: InternalContext,
  ) {
    this.pool = new TargetPool(options.targets);
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

    const { on, plugins, agent: userAgent, ...passthrough } = options.proxy;
    let captured: ProxyServer | null = null;
    const capture: Plugin = (proxyServer) => {
      captured = proxyServer;
    };
    const hpmOptions: HpmOptions = {
      ...passthrough,
      target: this.pool.targets[0]?.display,
      ejectPlugins: true,
      plugins: [capture, ...(plugins ?? [])],
    };
    createProxyMiddleware(hpmOptions);
    if (captured === null) throw new Error('http-proxy-middleware did not run its plugins');
    this.server = captured;
    dropDeleteLengthPass(this.server);
    // Options for http-proxy itself (`proxy.*`) are implemented by its own stream pass, so a route
    // that sets any keeps it; every other route sends through the direct pass.
    const passes = (this.server as unknown as { webPasses?: Parameters<typeof useDirectStream>[0] })
      .webPasses;
    this.direct =
      Object.keys(passthrough).length === 0 &&
      on === undefined &&
      (plugins?.length ?? 0) === 0 &&
      Array.isArray(passes) &&
      useDirectStream(passes, (state) => {
        sendDirect(state, (this.byTarget.get(state.target) as TargetRoute).upstream);
      });
    this.listen(this.server);
    if (on) {
      for (const [event, listener] of Object.entries(on)) {
        // Validated as functions; http-proxy's typed on() overloads cannot take a computed event name.
        if (typeof listener === 'function')
          this.server.on(event, listener as (...args: unknown[]) => void);
      }
    }

    let httpAgent: HttpAgent | null = null;
    let httpsAgent: HttpsAgent | null = null;
    for (const target of this.pool.targets) {
      const https = target.url.protocol === 'https:';
      let agent: HttpAgent | HttpsAgent;
      // hpm leaves `agent` untyped; options validation checked it is an object (an http(s).Agent).
      if (userAgent !== undefined) agent = userAgent as HttpAgent;
      else if (https) {
        httpsAgent ??= this.own(
          new HttpsAgent({ keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS }),
        );
        agent = httpsAgent;
      } else {
        httpAgent ??= this.own(new HttpAgent({ keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS }));
        agent = httpAgent;
      }
      const url = target.url;
      const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
      const base: ProxyCallOptions = {
        ...passthrough,
        // A detailed target: http-proxy would otherwise url.parse() a string on every request.
        target: {
          protocol: url.protocol,
          host: hostname,
          hostname,
          port,
        },
        // req.url is sent as it is (the target's path is prepended in onProxyReq).
        toProxy: true,
        prependPath: false,
      };
      if (url.username !== '' && passthrough.auth === undefined) {
        base.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      }
      // WebSocket handshakes get a connection of their own (it leaves the pool once upgraded).
      this.byTarget.set(target, {
        target,
        web: { ...base, agent },
        ws: { ...base, agent: false },
        upstream: { https, hostname, port, agent, auth: base.auth },
      });
    }
    const only = this.pool.targets.length === 1 ? this.pool.targets[0] : undefined;
    const serverOptions = (this.server as unknown as { options?: unknown }).options;
    if (only !== undefined && typeof serverOptions === 'object' && serverOptions !== null) {
      // Given per-call options, http-proxy copies its own options and then those (util._extend of
      // every key, twice) on every request. Its web() closes over the very object it exposes as
      // `server.options` (http-proxy-middleware creates it empty), so a one-target route makes its
      // web options the server's own once and calls web(req, res) without per-call options.
      // WebSocket and re-sent bodies still pass theirs, which override every key as before.
      Object.assign(serverOptions, (this.byTarget.get(only) as TargetRoute).web);
      this.globalTarget = only;
    }
  }

  private own<T extends HttpAgent | HttpsAgent>(agent: T): T {
    this.agents.push(agent);
    return agent;
  }

  /**
   * Forwards a matched request whose URL was already rewritten. Answers
   * 503 when every target is down, 400 for an upgrade the route does not
   * tunnel; otherwise the outcome is reported by the proxy listeners.
   */
  forward(req: GatewayRequest, res: ServerResponse): void {
    const upgradeHead = (req as WithHead<GatewayRequest>)[UPGRADE_HEAD];
    const tunnel = upgradeHead !== undefined;
    if (tunnel && !(this.options.websocket && isWebSocketHandshake(req))) {
      this.ctx.sendProblem(req, res, {
        code: 'bad_request',
        detail: this.options.websocket
          ? 'Only WebSocket upgrades (GET with Upgrade: websocket) are tunnelled.'
          : 'This route does not accept WebSocket upgrades.',
      });
      return;
    }
    const target = this.pool.pick();
    if (target === null) {
      this.allDown(req, res);
      return;
    }
    const body = tunnel ? null : parsedBody(req);
    const state: ForwardState = {
      proxy: this,
      req,
      res,
      target,
      attempts: 0,
      // Only events report a duration; asked per request, as a subscriber may come at any time.
      startedAt:
        isListening(this.ctx.emit, 'proxy.response') || isListening(this.ctx.emit, 'proxy.error')
          ? performance.now()
          : 0,
      body,
      replayable: body !== null || !hasStreamedBody(req),
      tunnel,
      proxyReq: null,
      proxyRes: null,
      waitsForDrain: false,
      connectTimer: null,
      responseTimer: null,
      staleRetried: false,
      upgraded: false,
      done: false,
    };
    (req as WithState<GatewayRequest>)[STATE] = state;
    if (tunnel) {
      this.attempt(state, target, upgradeHead);
      return;
    }
    // `on`, not `once`: a response emits 'close' once (Node guards it), and once() would wrap the
    // listener in a new closure per request. finish() is idempotent anyway.
    res.on('close', onClientClose);
    this.attempt(state, target, undefined);
  }

  private attempt(state: ForwardState, target: UpstreamTarget, head: Buffer | undefined): void {
    const { req, res } = state;
    state.target = target;
    state.attempts++;
    state.proxyReq = null;
    const gateway = req.gateway;
    if (gateway?.route !== undefined) gateway.route.target = target.display;
    if (!this.hostIsSet && (!this.preserveHost || req.headers.host === undefined)) {
      req.headers.host = target.hostHeader;
    }
    const route = this.byTarget.get(target) as TargetRoute;
    if (state.tunnel) {
      const socket = res.socket;
      if (socket === null) {
        this.fail(state, { code: 'bad_gateway', connect: false, reason: 'client socket gone' });
        return;
      }
      this.server.ws(req, socket, head, route.ws);
      return;
    }
    // The direct pass sends a re-sent body from the state itself.
    if (state.body === null || this.direct) {
      if (target === this.globalTarget) this.server.web(req, res);
      else this.server.web(req, res, route.web);
    } else {
      // The stream was consumed by a body parser: send the parsed body again, framed by its length.
      this.server.web(req, res, { ...route.web, buffer: Readable.from([state.body]) });
    }
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

  upstreamSocket(proxyReq: ClientRequest, state: ForwardState): void {
    if (state.done) {
      proxyReq.destroy();
      return;
    }
    this.armTimers(proxyReq, state);
  }

  upstreamError(err: Error, state: ForwardState): void {
    const socket = state.req.socket;
    if (socket.destroyed && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
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

  private listen(server: ProxyServer): void {
    server.on('proxyReq', (proxyReq: ClientRequest, req: IncomingMessage) => {
      const state = (req as WithState<IncomingMessage>)[STATE];
      if (state === undefined) return;
      this.onProxyReq(proxyReq, state);
      this.armTimers(proxyReq, state);
    });
    server.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage) => {
      const state = (req as WithState<IncomingMessage>)[STATE];
      if (state === undefined) return;
      proxyReq.once('upgrade', onTunnelOpen);
      this.onProxyReq(proxyReq, state);
      // proxyReqWs is emitted before the request has a socket.
      proxyReq.once('socket', () => this.armTimers(proxyReq, state));
    });
    server.on(
      'proxyRes',
      (proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse) => {
        const state = (req as WithState<IncomingMessage>)[STATE];
        if (state !== undefined) this.onProxyRes(proxyRes, res);
      },
    );
    server.on('error', (err: Error, req: IncomingMessage | undefined) => {
      // http-proxy emits a configuration error without a request.
      const state = (req as WithState<IncomingMessage> | undefined)?.[STATE];
      if (state !== undefined) this.onError(err, state);
    });
    // A client that went away while its body was still being sent: already handled by onClientClose.
    server.on('econnreset', () => {});
  }

  private onProxyReq(proxyReq: ClientRequest, state: ForwardState): void {
    if (state.done) {
      proxyReq.destroy();
      return;
    }
    state.proxyReq = proxyReq;
    (proxyReq as WithState<ClientRequest>)[STATE] = state;
    // Set here rather than by http-proxy's urlJoin, which merges '//' and turns 'http:/' into 'http://'.
    const prefix = state.target.pathPrefix;
    const url = state.req.url ?? '/';
    proxyReq.path = prefix === '' ? url : prefix + url;
  }

  private armTimers(proxyReq: ClientRequest, state: ForwardState): void {
    if (state.done) return;
    const socket = proxyReq.socket;
    if (socket?.connecting) {
      state.connectTimer = setTimeout(onConnectTimeout, this.connectTimeoutMs, proxyReq);
      socket.once(state.target.url.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
        clearConnectTimer(state);
      });
    }
    // Node starts this inactivity timer once the socket is connected: it covers a request body
    // the upstream stops reading. The whole response has its own deadline, from the request sent.
    proxyReq.setTimeout(this.timeoutMs, onResponseTimeout);
    // 'finish' comes once per request: `on` spares the wrapper `once` would build.
    if (!state.tunnel) proxyReq.on('finish', onRequestSent);
  }

  /** http-proxy's own pass writes `proxyRes.headers` to the client: give it the filtered set. */
  private onProxyRes(proxyRes: IncomingMessage, res: ServerResponse): void {
    const headers = this.responseHeaders(proxyRes);
    // http-proxy's setConnection pass would copy the request's `Connection`: set Node's own decision.
    if (this.setsConnection) headers.connection = res.shouldKeepAlive ? 'keep-alive' : 'close';
    proxyRes.headers = headers;
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

  private onError(err: Error, state: ForwardState): void {
    if (state.done) return;
    clearTimers(state);
    const { req, res } = state;
    const failure = classifyUpstreamError(err);
    // Passive health, as nginx's max_fails=1: an unreachable target, or one that kept a request
    // unanswered past `timeout`, is skipped for the cooldown (never the only target of a route).
    if (failure.connect || (failure.code === 'gateway_timeout' && !res.headersSent)) {
      this.pool.markDown(state.target);
    }
    if (!state.tunnel && !res.headersSent && state.replayable && IDEMPOTENT.has(req.method ?? '')) {
      const stale =
        !state.staleRetried &&
        (err as NodeJS.ErrnoException).code === 'ECONNRESET' &&
        state.proxyReq?.reusedSocket === true;
      if (stale) {
        // A pooled connection the upstream had closed: Node's documented case for one retry.
        state.staleRetried = true;
        this.attempt(state, state.target, undefined);
        return;
      }
      if (failure.connect && state.attempts <= this.retries) {
        const next = this.pool.pick();
        if (next !== null) {
          this.attempt(state, next, undefined);
          return;
        }
      }
    }
    this.fail(state, failure);
  }

  /** Reports a failed exchange once: a problem when nothing was sent yet, else the client response is cut. */
  fail(state: ForwardState, failure: UpstreamFailure): void {
    if (state.done) return;
    state.done = true;
    clearTimers(state);
    const { req, res } = state;
    const status = failure.code === 'gateway_timeout' ? 504 : 502;
    if (state.startedAt !== 0) {
      this.emitExchange(state, 'proxy.error', res.headersSent ? res.statusCode : status, {
        code: res.headersSent ? 'response_aborted' : failure.code,
        error: failure.reason,
      });
    }
    if (state.upgraded) {
      res.socket?.destroy();
      return;
    }
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    this.ctx.sendProblem(req, res, { code: failure.code, detail: FAILURE_DETAIL[failure.code] });
  }

  /** The client response is over: report it, or abort the upstream if the client left first. */
  finish(state: ForwardState): void {
    if (state.done) return;
    state.done = true;
    clearTimers(state);
    const { res } = state;
    if (res.writableFinished) {
      if (state.startedAt !== 0) this.emitExchange(state, 'proxy.response', res.statusCode);
      return;
    }
    state.proxyReq?.destroy();
    if (state.startedAt !== 0) {
      this.emitExchange(state, 'proxy.error', res.headersSent ? res.statusCode : 499, {
        code: 'client_aborted',
        error: 'the client closed the connection before the response was complete',
      });
    }
  }

  tunnelOpened(state: ForwardState): void {
    clearTimers(state);
    state.upgraded = true;
    const { res } = state;
    const socket = res.socket;
    // The upstream's 101 and the frames are written by http-proxy straight on the socket.
    if (socket) res.detachSocket(socket);
    if (state.startedAt !== 0) this.emitExchange(state, 'proxy.response', 101);
    state.done = true;
    requestTunnelled(res);
  }

  /** The one place a forwarded exchange's `proxy.response` / `proxy.error` event is built. */
  private emitExchange(
    state: ForwardState,
    type: 'proxy.response' | 'proxy.error',
    status: number,
    failure?: { code: string; error: string },
  ): void {
    const common = {
      requestId: state.req.gateway?.requestId ?? '',
      route: this.label,
      target: state.target.display,
      attempt: state.attempts,
      status,
      durationMs: elapsed(state),
    };
    if (type === 'proxy.response') this.ctx.emit({ type, ...common });
    else this.ctx.emit({ type, ...common, code: failure?.code ?? '', error: failure?.error ?? '' });
  }

  async close(): Promise<void> {
    for (const agent of this.agents) agent.destroy();
  }
}

type WithHead<T> = T & { [UPGRADE_HEAD]?: Buffer };

/**
 * http-proxy's `deleteLength` pass sets `Content-Length: 0` and deletes
 * `Transfer-Encoding` on DELETE/OPTIONS requests without a length, even when a
 * chunked body follows: the body would then reach the upstream unframed (a
 * request smuggling vector). Node frames what it sends by itself, so the pass
 * is removed from this route's own proxy server.
 */
function dropDeleteLengthPass(server: ProxyServer): void {
  // webPasses is http-proxy's public-by-convention pass list (see its before()/after()); @types/http-proxy omits it.
  const passes = (server as unknown as { webPasses?: Array<{ name: string }> }).webPasses;
  if (!Array.isArray(passes)) return;
  const index = passes.findIndex((pass) => pass.name === 'deleteLength');
  if (index !== -1) passes.splice(index, 1);
}

function elapsed(state: ForwardState): number {
  return Math.round((performance.now() - state.startedAt) * 1000) / 1000;
}

function clearConnectTimer(state: ForwardState): void {
  if (state.connectTimer !== null) {
    clearTimeout(state.connectTimer);
    state.connectTimer = null;
  }
}

function clearTimers(state: ForwardState): void {
  clearConnectTimer(state);
  if (state.responseTimer !== null) {
    clearTimeout(state.responseTimer);
    state.responseTimer = null;
  }
}

/**
 * The request is sent (headers and body): the upstream's whole response, headers and body, is
 * due within `timeout` from now (SPEC §5: "whole upstream response").
 */
function onRequestSent(this: WithState<ClientRequest>): void {
  const state = this[STATE];
  if (state === undefined || state.done || state.proxyReq !== this) return;
  if (state.responseTimer !== null) clearTimeout(state.responseTimer);
  state.responseTimer = setTimeout(onResponseDeadline, state.proxy.timeoutMs, this);
}

function onResponseDeadline(proxyReq: WithState<ClientRequest>): void {
  const state = proxyReq[STATE];
  if (state === undefined) return;
  state.responseTimer = null;
  // The upstream's response has been relayed whole; only the client is still reading it.
  if (state.done || state.res.writableEnded) return;
  proxyReq.destroy(new UpstreamTimeoutError('response'));
}

function onConnectTimeout(proxyReq: WithState<ClientRequest>): void {
  const state = proxyReq[STATE];
  if (state !== undefined) state.connectTimer = null;
  proxyReq.destroy(new UpstreamTimeoutError('connect'));
}

function onResponseTimeout(this: WithState<ClientRequest>): void {
  // Before connect the connect timer is in charge.
  if (this.socket?.connecting) return;
  this.destroy(new UpstreamTimeoutError('response'));
}

function onClientClose(this: ServerResponse): void {
  const state = (this.req as WithState<IncomingMessage>)[STATE];
  if (state !== undefined) state.proxy.finish(state);
}

function onUpstreamResponseClose(this: IncomingMessage): void {
  if (this.complete) return;
  const proxyReq = (this as IncomingMessage & { req?: WithState<ClientRequest> }).req;
  const state = proxyReq?.[STATE];
  // The upstream died (or timed out) in the middle of its response: end the client's too.
  if (state !== undefined)
    state.proxy.fail(state, {
      code: 'bad_gateway',
      connect: false,
      reason: 'upstream closed mid-response',
    });
}

function onTunnelOpen(this: WithState<ClientRequest>): void {
  const state = this[STATE];
  if (state !== undefined) state.proxy.tunnelOpened(state);
}

function isWebSocketHandshake(req: GatewayRequest): boolean {
  const upgrade = req.headers.upgrade;
  return req.method === 'GET' && upgrade !== undefined && upgrade.toLowerCase() === 'websocket';
}
