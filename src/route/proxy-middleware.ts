import type { EventEmitter } from 'node:events';
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  createProxyMiddleware,
  type Options as HpmOptions,
  type Plugin,
  type RequestHandler,
} from 'http-proxy-middleware';
import type { RouteProxyOptions } from '../schema/route.js';
import { type ForwardState, STATE, type WithState } from './forward-state.js';
import type { RouteUpstreams } from './upstreams.js';

/**
 * Routes that set `proxy` pass-through options (cookie and redirect rewriting,
 * TLS options, `on` hooks, plugins, …) forward through http-proxy-middleware 4,
 * by its documented API only: `createProxyMiddleware` with `router` returning
 * the target the route's balancer picked for the request, the gateway's
 * listeners installed by a plugin (with `ejectPlugins: true` its `on` option is
 * not registered, so the route's `proxy.on` goes in through a plugin too), the
 * middleware called for plain requests and its `upgrade()` for WebSocket
 * tunnels. The gateway's behaviour around it (timeouts, retries, passive
 * health, 502/503/504, events, header rules) is the same as on portcullis' own
 * forwarder. With `websocket: true` a second instance serves the tunnels, so
 * that handshakes get connections of their own (`proxy.agent`, else none); the
 * route's plugins and `on` listeners are installed on both.
 *
 * @example
 * const hpm = new ProxyMiddlewareForwarder(resolved.proxy, upstreams, resolved.websocket);
 * hpm.send(state);
 */
export class ProxyMiddlewareForwarder {
  private readonly web: RequestHandler;
  private readonly ws: RequestHandler | null;

  constructor(proxy: RouteProxyOptions, upstreams: RouteUpstreams, websocket: boolean) {
    const { on, plugins, agent: _agent, ...passthrough } = proxy;
    const gatewayListeners: Plugin = (server) => {
      server.on('proxyReq', onProxyReq);
      server.on('proxyReqWs', onProxyReqWs);
      server.on('proxyRes', onProxyRes);
      server.on('error', onProxyError);
      // A client that went away while its body was still being sent: the route's close handling reports it.
      server.on('econnreset', ignore);
    };
    const chain: Plugin[] = [gatewayListeners];
    if (on !== undefined) {
      chain.push((server) => {
        for (const [event, listener] of Object.entries(on)) {
          // Validated as functions; httpxy's typed on() cannot take a computed event name.
          if (typeof listener === 'function') {
            (server as unknown as EventEmitter).on(event, listener as (...args: unknown[]) => void);
          }
        }
      });
    }
    if (plugins !== undefined) chain.push(...plugins);
    const options = (agent: HpmOptions['agent']): HpmOptions => ({
      ...passthrough,
      ...(agent === undefined ? {} : { agent }),
      router: targetOfRequest,
      ejectPlugins: true,
      plugins: chain,
    });
    this.web = createProxyMiddleware(options(upstreams.sharedAgent));
    this.ws = websocket ? createProxyMiddleware(options(upstreams.tunnelAgent)) : null;
  }

  /** Forwards the plain request of `state` (its target already picked). */
  send(state: ForwardState): void {
    // Failures reach the 'error' listener (and so the route's proxy); `next` is never needed.
    this.web(state.req, state.res, ignore).then(undefined, ignore);
  }

  /** Forwards the WebSocket handshake of `state` on the client's socket. */
  tunnel(state: ForwardState): void {
    const socket = state.res.socket as Socket | null;
    if (this.ws === null || socket === null) {
      state.proxy.fail(state, {
        code: 'bad_gateway',
        connect: false,
        reason: 'client socket gone',
      });
      return;
    }
    this.ws.upgrade(state.req, socket, state.head ?? EMPTY);
  }
}

const EMPTY = Buffer.alloc(0);

function ignore(): void {}

/** http-proxy-middleware's `router`: the target the balancer picked for this attempt. */
function targetOfRequest(req: IncomingMessage): ForwardState['target']['proxyTarget'] {
  // Only requests the route hands over reach the middleware, each with its state.
  return ((req as WithState<IncomingMessage>)[STATE] as ForwardState).target.proxyTarget;
}

/**
 * What both handshakes (plain and WebSocket) get before they are sent; the request's state,
 * or `undefined` when the request is not one the route handed over, or was answered
 * meanwhile (its upstream request is then destroyed unsent).
 */
function prepare(
  proxyReq: WithState<ClientRequest>,
  req: IncomingMessage,
): ForwardState | undefined {
  const state = (req as WithState<IncomingMessage>)[STATE];
  if (state === undefined) return undefined;
  if (state.done) {
    proxyReq.destroy();
    return undefined;
  }
  state.proxyReq = proxyReq;
  proxyReq[STATE] = state;
  const target = state.target;
  // Set here rather than by httpxy's URL joining: the path goes out exactly as prepared.
  const url = state.req.url ?? '/';
  proxyReq.path = target.pathPrefix === '' ? url : target.pathPrefix + url;
  // The target URL's credentials, as Node's `auth` would send them (not over a client's own).
  if (target.auth !== undefined && !proxyReq.hasHeader('authorization')) {
    proxyReq.setHeader('authorization', `Basic ${Buffer.from(target.auth).toString('base64')}`);
  }
  return state;
}

function onProxyReq(proxyReq: ClientRequest, req: IncomingMessage): void {
  const state = prepare(proxyReq, req);
  if (state === undefined) return;
  // httpxy gives a DELETE or OPTIONS without a body `Content-Length: 0`; send it as it came.
  if (state.unframed && proxyReq.hasHeader('content-length'))
    proxyReq.removeHeader('content-length');
  // Emitted on 'socket', just before httpxy pipes the body: a parsed body goes first (the
  // consumed client stream then only ends the request), a streamed one is watched from here.
  if (state.body !== null) proxyReq.write(state.body);
  state.proxy.upstreamSocket(proxyReq, state);
  if (!state.replayable) state.proxy.bodyStreaming(state);
}

function onProxyReqWs(proxyReq: ClientRequest, req: IncomingMessage): void {
  if (prepare(proxyReq, req) === undefined) return;
  // Registered before httpxy's own listeners, so these run first.
  proxyReq.once('upgrade', onTunnelOpen);
  proxyReq.once('response', onTunnelResponse);
  // proxyReqWs is emitted before the request has a socket.
  proxyReq.once('socket', onTunnelSocket);
}

function onTunnelSocket(this: WithState<ClientRequest>): void {
  const state = this[STATE];
  if (state !== undefined) state.proxy.upstreamSocket(this, state);
}

function onTunnelOpen(this: WithState<ClientRequest>): void {
  const state = this[STATE];
  // httpxy writes the upstream's 101 and pipes the sockets right after.
  if (state !== undefined) state.proxy.tunnelOpened(state);
}

function onTunnelResponse(this: WithState<ClientRequest>, proxyRes: IncomingMessage): void {
  const state = this[STATE];
  if (state === undefined || proxyRes.statusCode === 101) return;
  state.proxy.tunnelRefused(state, proxyRes.statusCode ?? 502);
}

function onProxyRes(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
  const state = (req as WithState<IncomingMessage>)[STATE];
  if (state !== undefined) state.proxy.filterResponse(proxyRes, res);
}

function onProxyError(err: Error, req: IncomingMessage | undefined): void {
  // httpxy emits a configuration error without a request.
  const state = (req as WithState<IncomingMessage> | undefined)?.[STATE];
  if (state !== undefined) state.proxy.upstreamError(err, state);
}
