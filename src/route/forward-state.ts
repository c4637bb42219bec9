import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { RequestTrace } from '../tracing/upstream-spans.js';
import type { GatewayRequest } from '../types.js';
import type { UpstreamTarget } from './targets.js';
import type { UpstreamFailure } from './upstream-errors.js';

/**
 * The key under which a forwarded request's state hangs on the objects its
 * listeners are called with (the client request, the upstream request and
 * response), so the listeners are shared functions instead of closures built
 * per request.
 */
export const STATE = Symbol('portcullis.forward');

/**
 * What an exchange's listeners call back into: the route's proxy. Both ways of
 * sending (portcullis' own forwarder and http-proxy-middleware) report here.
 *
 * @example
 * const owner: ExchangeOwner = routeProxy;
 */
export interface ExchangeOwner {
  /** The route's `timeout`, in ms: the upstream's whole response, and the longest silence. */
  readonly timeoutMs: number;
  /** Sends the request of `state` now (called by the send queue at the end of the loop turn). */
  transmit(state: ForwardState): void;
  /** The client response is over (finished or closed early). */
  finish(state: ForwardState): void;
  /** The exchange failed: a problem response, or the client response cut; the upstream request is aborted. */
  fail(state: ForwardState, failure: UpstreamFailure): void;
  /** The upstream accepted the upgrade: the socket is the tunnel's from now on. */
  tunnelOpened(state: ForwardState): void;
  /** The upstream request has its socket: arm the timers. */
  upstreamSocket(proxyReq: ClientRequest, state: ForwardState): void;
  /** The upstream request, or the client's request body stream, failed. */
  upstreamError(err: Error, state: ForwardState): void;
  /** Writes the upstream's status and headers, filtered, to the client response. */
  relayHead(proxyRes: IncomingMessage, res: ServerResponse): void;
  /** The client's request body is being streamed upstream: watch it for stalls. */
  bodyStreaming(state: ForwardState): void;
  /** http-proxy-middleware writes `proxyRes.headers` to the client itself: give it the filtered set. */
  filterResponse(proxyRes: IncomingMessage, res: ServerResponse): void;
  /** The upstream answered a WebSocket handshake without upgrading (http-proxy-middleware relays it). */
  tunnelRefused(state: ForwardState, status: number): void;
}

/**
 * Per-request state, one object per forwarded request (retries reuse it).
 *
 * @example
 * const state = (req as WithState<IncomingMessage>)[STATE];
 */
export interface ForwardState {
  readonly proxy: ExchangeOwner;
  readonly req: GatewayRequest;
  readonly res: ServerResponse;
  /** The target of the current attempt. */
  target: UpstreamTarget;
  /** The current attempt, 1-based (0 before the first). */
  attempt: number;
  /** performance.now() when the current attempt started, when events are listened to, else 0. */
  attemptStartedAt: number;
  /** The request's OpenTelemetry tracing (a CLIENT span per attempt), or null when it is not traced. */
  trace: RequestTrace | null;
  /** A re-sent parsed body (a body parser ran before), or null to stream `req`. */
  readonly body: Buffer | null;
  /** The request has no body to stream, or it is held in `body`: it can be sent again. */
  readonly replayable: boolean;
  /** The client sent neither `Content-Length` nor `Transfer-Encoding`: no body, and none is announced upstream. */
  readonly unframed: boolean;
  /** A WebSocket handshake to tunnel (from handleUpgrades), not a plain request. */
  readonly tunnel: boolean;
  /** The bytes that followed the client's handshake (tunnels only), sent upstream once the tunnel opens. */
  readonly head: Buffer | null;
  proxyReq: ClientRequest | null;
  /** The upstream response portcullis' forwarder is relaying. */
  proxyRes: IncomingMessage | null;
  /** A 'drain' listener is on the client response. */
  waitsForDrain: boolean;
  connectTimer: NodeJS.Timeout | null;
  /** Runs from the moment the request was sent until the upstream's response is complete. */
  responseTimer: NodeJS.Timeout | null;
  /** Runs while the client's body streams upstream; refreshed by every chunk (SPEC §8: 408). */
  bodyTimer: NodeJS.Timeout | null;
  staleRetried: boolean;
  upgraded: boolean;
  /** The outcome was reported (answered or cut, event emitted). */
  done: boolean;
}

/**
 * An object that may carry a forwarded request's state.
 *
 * @example
 * (proxyReq as WithState<ClientRequest>)[STATE] = state;
 */
export type WithState<T> = T & { [STATE]?: ForwardState };
