import {
  type ClientRequest,
  type Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { type ForwardState, STATE, type WithState } from './forward-state.js';

/**
 * portcullis' own forwarder, on `node:http`/`node:https` alone: every route
 * without http-proxy-middleware pass-through options sends through it, plain
 * requests and WebSocket tunnels alike. It only moves bytes; the route's proxy
 * (the state's `proxy`) decides everything else (targets, timers, retries,
 * answers, events), and is told of each step through the state.
 *
 * Per request: one options object for Node, the prepared headers object as it
 * is (never copied or re-derived: its framing headers are the client's, as
 * prepared by the route), shared listener functions with the state hung on the
 * objects under {@link STATE}, no closures.
 */

/**
 * Sends a plain request to the state's target and relays the response: a
 * request without a body is ended at once (no pipe), a streamed body is piped
 * (and watched for stalls), a re-sent parsed body is written whole. The
 * response is written chunk by chunk with backpressure (the upstream response
 * is paused while the client's buffer is full). Failures go to the state's
 * owner (`upstreamError`), which answers or retries.
 *
 * @example
 * sendRequest(state, agent);
 */
export function sendRequest(state: ForwardState, agent: HttpAgent): void {
  const { req } = state;
  const proxyReq = open(state, agent, req.method);
  proxyReq.on('response', onUpstreamResponse);
  if (state.body !== null) proxyReq.end(state.body);
  else if (state.replayable) proxyReq.end();
  else {
    req.on('error', onClientRequestError);
    req.pipe(proxyReq);
    state.proxy.bodyStreaming(state);
  }
}

/**
 * Opens a WebSocket tunnel: sends the client's handshake (as prepared, with
 * `Connection: upgrade` and `Upgrade: websocket`) to the state's target. On
 * `'upgrade'` the upstream's 101 is written to the client's socket as the
 * upstream sent it, the bytes that followed each side's handshake are passed
 * on, and the two sockets are piped both ways until either closes. On
 * `'response'` the upstream refused the upgrade: its answer is relayed as an
 * ordinary response (then handleUpgrades closes the socket).
 *
 * @example
 * openTunnel(state, false); // a connection of its own
 */
export function openTunnel(state: ForwardState, agent: HttpAgent | false): void {
  const proxyReq = open(state, agent, 'GET');
  proxyReq.on('upgrade', onUpstreamUpgrade);
  proxyReq.on('response', onUpstreamResponse);
  proxyReq.end();
}

function open(
  state: ForwardState,
  agent: HttpAgent | false,
  method: string | undefined,
): ClientRequest {
  const { req, target } = state;
  const prefix = target.pathPrefix;
  const url = req.url ?? '/';
  const options: RequestOptions = {
    hostname: target.hostname,
    port: target.port,
    agent,
    auth: target.auth,
    method,
    // Sent as it is: no URL joining that would merge '//' or turn 'http:/' into 'http://'.
    path: prefix === '' ? url : prefix + url,
    headers: req.headers,
  };
  const proxyReq = target.https ? httpsRequest(options) : httpRequest(options);
  state.proxyReq = proxyReq;
  (proxyReq as WithState<ClientRequest>)[STATE] = state;
  proxyReq.on('socket', onUpstreamSocket);
  proxyReq.on('error', onUpstreamError);
  return proxyReq;
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
  if (state === undefined || state.proxyReq !== this) {
    proxyRes.resume();
    return;
  }
  const res = state.res;
  state.proxyRes = proxyRes;
  (proxyRes as WithState<IncomingMessage>)[STATE] = state;
  if (!res.headersSent) {
    try {
      state.proxy.relayHead(proxyRes, res);
    } catch {
      // A header Node's parser let through but setHeader refuses: never an uncaught exception.
      state.proxy.fail(state, {
        code: 'bad_gateway',
        connect: false,
        reason: 'upstream response headers could not be relayed',
      });
      return;
    }
  }
  if (res.writableEnded) {
    proxyRes.resume();
    return;
  }
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

/** The other end of a tunnel's socket. */
const PEER = Symbol('portcullis.tunnelPeer');
type TunnelSocket = Socket & { [PEER]?: Socket };

function onUpstreamUpgrade(
  this: WithState<ClientRequest>,
  proxyRes: IncomingMessage,
  upstream: Socket,
  upstreamHead: Buffer,
): void {
  const state = this[STATE];
  const client = state?.res.socket;
  if (state === undefined || state.done || client == null || client.destroyed) {
    upstream.destroy();
    return;
  }
  state.proxy.tunnelOpened(state);
  // The request's inactivity limit was set on this socket: the open tunnel has none.
  upstream.setTimeout(0);
  upstream.setNoDelay(true);
  client.setNoDelay(true);
  client.write(switchingProtocolsHead(proxyRes));
  if (upstreamHead.length > 0) client.write(upstreamHead);
  const clientHead = state.head;
  if (clientHead !== null && clientHead.length > 0) upstream.write(clientHead);
  (client as TunnelSocket)[PEER] = upstream;
  (upstream as TunnelSocket)[PEER] = client;
  client.on('error', destroyTunnel);
  upstream.on('error', destroyTunnel);
  client.on('close', destroyTunnel);
  upstream.on('close', destroyTunnel);
  upstream.pipe(client);
  client.pipe(upstream);
}

/** Either end of a tunnel failed or closed: the other goes too (an error on one never leaks). */
function destroyTunnel(this: TunnelSocket): void {
  this.destroy();
  this[PEER]?.destroy();
}

/** The upstream's 101 as it sent it: status line and header lines in their order and case. */
function switchingProtocolsHead(proxyRes: IncomingMessage): string {
  let head = `HTTP/1.1 101 ${proxyRes.statusMessage || 'Switching Protocols'}\r\n`;
  const raw = proxyRes.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${head}\r\n`;
}
