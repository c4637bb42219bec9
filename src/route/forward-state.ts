import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
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
 * What an exchange's listeners call back into: the route's proxy.
 *
 * @example
 * const owner: ExchangeOwner = routeProxy;
 */
export interface ExchangeOwner {
  /** The route's `timeout`, in ms: the upstream's whole response, and the longest silence. */
  readonly timeoutMs: number;
  /** The client response is over (finished or closed early). */
  finish(state: ForwardState): void;
  /** The exchange failed: a problem response, or the client response cut. */
  fail(state: ForwardState, failure: UpstreamFailure): void;
  tunnelOpened(state: ForwardState): void;
  /** The upstream request has its socket: arm the timers. */
  upstreamSocket(proxyReq: ClientRequest, state: ForwardState): void;
  /** The upstream request, or the client's request body stream, failed. */
  upstreamError(err: Error, state: ForwardState): void;
  /** Writes the upstream's status and headers, filtered, to the client response. */
  relayHead(proxyRes: IncomingMessage, res: ServerResponse): void;
}

/**
 * Per-request state, one object per forwarded request.
 *
 * @example
 * const state = (req as WithState<IncomingMessage>)[STATE];
 */
export interface ForwardState {
  readonly proxy: ExchangeOwner;
  readonly req: GatewayRequest;
  readonly res: ServerResponse;
  target: UpstreamTarget;
  attempts: number;
  /** performance.now() at the start when someone listened to proxy events (they alone report durations), else 0: then none is emitted. */
  readonly startedAt: number;
  /** A re-sent parsed body (a body parser ran before), or null to stream `req`. */
  readonly body: Buffer | null;
  /** The request has no body to stream, or it is held in `body`: it can be sent again. */
  readonly replayable: boolean;
  readonly tunnel: boolean;
  proxyReq: ClientRequest | null;
  /** The upstream response the direct stream pass is relaying. */
  proxyRes: IncomingMessage | null;
  /** A 'drain' listener is on the client response. */
  waitsForDrain: boolean;
  connectTimer: NodeJS.Timeout | null;
  /** Runs from the moment the request was sent until the upstream's response is complete. */
  responseTimer: NodeJS.Timeout | null;
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
