import {
  type ClientRequest,
  type Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
  type ServerResponse,
} from 'node:http';
import { type Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type ForwardState, STATE, type WithState } from './forward-state.js';

/**
 * Where the direct stream pass sends a target's requests, fixed at construction.
 *
 * @example
 * const upstream: DirectUpstream = { https: false, hostname: '127.0.0.1', port: 8081, agent, auth: undefined };
 */
export interface DirectUpstream {
  readonly https: boolean;
  readonly hostname: string;
  readonly port: number;
  readonly agent: HttpAgent | HttpsAgent;
  /** `user:password` from the target URL, sent as Basic credentials; never shown anywhere. */
  readonly auth: string | undefined;
}

/** An http-proxy web pass: `(req, res, options, head, server, callback)`; a truthy return stops the chain. */
type WebPass = (
  req: IncomingMessage,
  res: ServerResponse,
  options: unknown,
  head: unknown,
  server: unknown,
  callback: unknown,
) => unknown;

/**
 * Replaces the last of http-proxy's web passes ('stream') in `webPasses` by
 * `send`, for a route that uses none of the http-proxy options that pass
 * implements beyond what the route does itself. Requests that carry no
 * forward state (not sent by the route) still go through the original pass.
 * Returns whether the pass was found.
 *
 * http-proxy's own pass builds per request an options object and a copy of
 * the headers, five closures, two `pipe()`s and four events nobody listens
 * to; about a seventh of a proxied request's CPU time (see the README's
 * performance section). Everything the route needs from it is done here.
 *
 * @example
 * useDirectStream(server.webPasses, (state) => sendDirect(state, upstreamOf(state.target)));
 */
export function useDirectStream(passes: WebPass[], send: (state: ForwardState) => void): boolean {
  const index = passes.findIndex((pass) => pass.name === 'stream');
  const original = passes[index];
  if (original === undefined) return false;
  passes[index] = function stream(req, res, options, head, server, callback) {
    const state = (req as WithState<IncomingMessage>)[STATE];
    if (state === undefined) return original(req, res, options, head, server, callback);
    send(state);
    return undefined;
  };
  return true;
}

/**
 * Requests handed to `sendDirect` while the event loop works through one batch of socket events;
 * they are sent together once that batch is over (`setImmediate`). Under load this lets the
 * gateway, the kernel and the upstream handle requests in bursts rather than waking each other
 * once per request: about a fifth less gateway CPU per request and as much more throughput in
 * the benchmark, while a lone request waits only for the rest of the current loop turn
 * (unmeasurable next to a network round trip). Shared by every route of the process.
 */
let waitingStates: ForwardState[] = [];
let waitingUpstreams: DirectUpstream[] = [];

function sendWaiting(): void {
  const states = waitingStates;
  const upstreams = waitingUpstreams;
  waitingStates = [];
  waitingUpstreams = [];
  for (let i = 0; i < states.length; i++) {
    const state = states[i] as ForwardState;
    // The client may have gone in the meantime: finish() already reported it.
    if (state.done) continue;
    try {
      send(state, upstreams[i] as DirectUpstream);
    } catch {
      // Node refused to build the request (nothing the gateway prepares should make it): answer
      // this one and go on with the others; outside the middleware, a throw would end the process.
      state.proxyReq?.destroy();
      state.proxy.fail(state, {
        code: 'bad_gateway',
        connect: false,
        reason: 'the upstream request could not be built',
      });
    }
  }
}

/**
 * Sends the request to `upstream` (at the end of the current loop turn, see `waitingStates`)
 * and relays the response: the prepared headers object goes to Node as it is, a request
 * without a body is ended at once (no pipe), a streamed body is piped, a re-sent parsed body is
 * written whole. The response is written chunk by chunk with backpressure (the upstream
 * response is paused while the client's buffer is full). Failures go to the state's owner
 * (`upstreamError`), which answers or retries.
 *
 * @example
 * sendDirect(state, { https: false, hostname: '127.0.0.1', port: 8081, agent, auth: undefined });
 */
export function sendDirect(state: ForwardState, upstream: DirectUpstream): void {
  if (waitingStates.push(state) === 1) setImmediate(sendWaiting);
  waitingUpstreams.push(upstream);
}

function send(state: ForwardState, upstream: DirectUpstream): void {
  const { req } = state;
  const prefix = state.target.pathPrefix;
  const url = req.url ?? '/';
  const options: RequestOptions = {
    hostname: upstream.hostname,
    port: upstream.port,
    agent: upstream.agent,
    auth: upstream.auth,
    method: req.method,
    // Sent as it is: no URL joining that would merge '//' or turn 'http:/' into 'http://'.
    path: prefix === '' ? url : prefix + url,
    headers: req.headers,
  };
  const proxyReq = upstream.https ? httpsRequest(options) : httpRequest(options);
  state.proxyReq = proxyReq;
  (proxyReq as WithState<ClientRequest>)[STATE] = state;
  proxyReq.on('socket', onUpstreamSocket);
  proxyReq.on('error', onUpstreamError);
  proxyReq.on('response', onUpstreamResponse);
  if (state.body !== null) proxyReq.end(state.body);
  else if (state.replayable) proxyReq.end();
  else {
    req.on('error', onClientRequestError);
    req.pipe(proxyReq);
  }
}

function onUpstreamSocket(this: WithState<ClientRequest>): void {
  const state = this[STATE];
  if (state !== undefined) state.proxy.upstreamSocket(this, state);
}

function onUpstreamError(this: WithState<ClientRequest>, err: Error): void {
  const state = this[STATE];
  if (state !== undefined) state.proxy.upstreamError(err, state);
}

function onClientRequestError(this: WithState<IncomingMessage>, err: Error): void {
  const state = this[STATE];
  if (state !== undefined) state.proxy.upstreamError(err, state);
}

function onUpstreamResponse(this: WithState<ClientRequest>, proxyRes: IncomingMessage): void {
  const state = this[STATE];
  if (state === undefined) return;
  const res = state.res;
  if (!res.headersSent) {
    try {
      state.proxy.relayHead(proxyRes, res);
    } catch {
      // A header Node's parser let through but setHeader refuses: never an uncaught exception.
      this.destroy();
      state.proxy.fail(state, {
        code: 'bad_gateway',
        connect: false,
        reason: 'upstream response headers could not be relayed',
      });
      return;
    }
  }
  if (res.writableEnded) return;
  state.proxyRes = proxyRes;
  (proxyRes as WithState<IncomingMessage>)[STATE] = state;
  proxyRes.on('data', onUpstreamData);
  proxyRes.on('end', onUpstreamEnd);
}

function onUpstreamData(this: WithState<IncomingMessage>, chunk: Buffer): void {
  const state = this[STATE];
  if (state === undefined || state.res.write(chunk)) return;
  // The client reads slower than the upstream sends: hold the upstream until it catches up. (The
  // route's timeout keeps running: it bounds the whole response, however slowly it is read.)
  this.pause();
  if (!state.waitsForDrain) {
    state.waitsForDrain = true;
    state.res.on('drain', onClientDrain);
  }
}

function onClientDrain(this: ServerResponse): void {
  const state = (this.req as WithState<IncomingMessage>)[STATE];
  if (state === undefined || state.proxyRes === null) return;
  state.proxyRes.resume();
}

function onUpstreamEnd(this: WithState<IncomingMessage>): void {
  this[STATE]?.res.end();
}
