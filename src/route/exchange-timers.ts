import type { ClientRequest, IncomingMessage } from 'node:http';
import { type ForwardState, STATE, type WithState } from './forward-state.js';
import { UpstreamTimeoutError } from './upstream-errors.js';

/**
 * Arms the deadlines of one upstream attempt once its request has a socket
 * (the same for both ways of sending):
 * - `connectTimeoutMs` while the socket is connecting (502 when it runs out);
 * - the route's `timeout` as the longest silence of the upstream socket while the request is
 *   being sent (an upstream that stops reading the body: 504);
 * - from the moment the request is sent whole, the route's `timeout` for the whole response
 *   (SPEC §5).
 *
 * @example
 * armTimers(proxyReq, state, 5_000);
 */
export function armTimers(
  proxyReq: ClientRequest,
  state: ForwardState,
  connectTimeoutMs: number,
): void {
  if (state.done) return;
  const socket = proxyReq.socket;
  if (socket?.connecting) {
    state.connectTimer = setTimeout(onConnectTimeout, connectTimeoutMs, proxyReq);
    // Only new connections get here (a pooled socket is connected), so the closure is rare.
    socket.once(state.target.https ? 'secureConnect' : 'connect', () => {
      clearConnectTimer(state);
    });
  }
  proxyReq.setTimeout(state.proxy.timeoutMs, onUpstreamSilent);
  // 'finish' comes once per request: `on` spares the wrapper `once` would build.
  proxyReq.on('finish', onRequestSent);
}

/**
 * Watches a request body that streams from the client to the upstream (SPEC
 * §8): when no byte arrives for the route's `timeout`, the exchange is cut with
 * `request_timeout` (408 when nothing was answered yet). Time the body spends
 * held back by the upstream (backpressure) is not the client's: the upstream's
 * own silence limit judges that.
 *
 * @example
 * req.pipe(proxyReq);
 * watchRequestBody(state);
 */
export function watchRequestBody(state: ForwardState): void {
  const req = state.req;
  if (state.bodyTimer !== null || state.done || req.readableEnded) return;
  state.bodyTimer = setTimeout(onBodyStalled, state.proxy.timeoutMs, state);
  req.on('data', onBodyData);
  req.on('end', onBodyEnd);
}

/**
 * Stops every timer of the exchange.
 *
 * @example
 * clearTimers(state);
 */
export function clearTimers(state: ForwardState): void {
  clearConnectTimer(state);
  if (state.responseTimer !== null) {
    clearTimeout(state.responseTimer);
    state.responseTimer = null;
  }
  if (state.bodyTimer !== null) {
    clearTimeout(state.bodyTimer);
    state.bodyTimer = null;
  }
}

function clearConnectTimer(state: ForwardState): void {
  if (state.connectTimer !== null) {
    clearTimeout(state.connectTimer);
    state.connectTimer = null;
  }
}

function onConnectTimeout(proxyReq: WithState<ClientRequest>): void {
  const state = proxyReq[STATE];
  if (state !== undefined) state.connectTimer = null;
  proxyReq.destroy(new UpstreamTimeoutError('connect'));
}

/** The upstream socket was silent for `timeout` (Node's inactivity timer on it). */
function onUpstreamSilent(this: WithState<ClientRequest>): void {
  // Before connect the connect timer is in charge.
  if (this.socket?.connecting) return;
  const state = this[STATE];
  // The body is still arriving and flowing: the client, not the upstream, went quiet. Its own
  // timer answers that (408); this one fires again once the socket is busy and silent again.
  if (state !== undefined && state.bodyTimer !== null && state.req.readableFlowing !== false)
    return;
  this.destroy(new UpstreamTimeoutError('response'));
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

function onBodyData(this: WithState<IncomingMessage>): void {
  this[STATE]?.bodyTimer?.refresh();
}

function onBodyEnd(this: WithState<IncomingMessage>): void {
  const state = this[STATE];
  if (state?.bodyTimer != null) {
    clearTimeout(state.bodyTimer);
    state.bodyTimer = null;
  }
}

function onBodyStalled(state: ForwardState): void {
  const timer = state.bodyTimer;
  if (timer === null || state.done || state.req.readableEnded) return;
  if (state.req.readableFlowing === false) {
    // Paused by backpressure: the upstream is not reading. Not the client's stall.
    timer.refresh();
    return;
  }
  state.bodyTimer = null;
  state.proxy.fail(state, {
    code: 'request_timeout',
    connect: false,
    reason: 'request body stalled',
  });
}
