import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type EmitEvent, isListening } from './events.js';
import { isValidRequestId } from './request-id.js';
import type { GatewayRequest, RequestOutcome } from './types.js';

// The "request ended" hook of portcullis middlewares, for two users:
//
// - One `request.completed` event per request a portcullis middleware handled (SPEC §10). The
//   record is taken at the entry of a middleware (`takeRequest`) and only when someone listens:
//   then it reads the clock once, hangs one small record on the response and adds one shared
//   'close' listener. When nobody listens it costs one property read and `isListening`.
//   A chain of portcullis middlewares shares the record (the first one creates it, the next ones
//   take it over), so a request is reported once, timed from the first of them.
// - A gateway's in-flight count (SPEC §9: a configuration is released after its last request,
//   `close()` drains): a `RequestTracker` is told when each request it took starts and ends,
//   whether anyone listens or not, from the moment a route matched (`trackRequest`). It costs
//   one symbol property on the response and the same shared 'close' listener; no event object
//   is built. Unmatched requests and the ones answered at once (400, 404, 405) are not tracked. A request that becomes a WebSocket tunnel
//   is handed over with its socket and counts until the tunnel closes.

const RECORD = Symbol('portcullis.requestCompleted');
/** The tracker of the request; `null` once it was told the request ended (the listener stays). */
const TRACKER = Symbol('portcullis.requestTracker');

/**
 * Told when each request a gateway took starts, ends (its response closed, or it left the
 * gateway unmatched), or becomes a tunnel on a socket (then it ends when that socket closes).
 *
 * @example
 * trackRequest(res, snapshot.inFlight);
 */
export interface RequestTracker {
  requestStarted(res: ServerResponse): void;
  requestEnded(res: ServerResponse): void;
  requestTunnelled(res: ServerResponse, socket: Socket): void;
}

/**
 * What is known about a request while it runs; on the response under a symbol.
 *
 * @example
 * const record = takeRequest(res, emit, true);
 * if (record !== null) record.route = compiled.label;
 */
export interface RequestRecord {
  /** Where the event goes: the emitter of the last middleware that took the request. */
  emit: EmitEvent;
  readonly startedAt: number;
  /** The matched route's label (its `name`, else its path template); null while none matched. */
  route: string | null;
  /**
   * The middleware ends the requests it takes (`createGateway`, `route()`). A standalone
   * `authenticate()`/`rateLimit()` does not: it reports only the requests it answers itself,
   * and leaves the others to what comes after it.
   */
  ends: boolean;
  /** No route matched and the request was handed on to the host app. */
  unmatched: boolean;
  /** The problem code the gateway answered with (set by the problem sender). */
  code: string | undefined;
  /** The event was emitted (or is queued). */
  done: boolean;
}

type WithRecord = ServerResponse & {
  [RECORD]?: RequestRecord;
  [TRACKER]?: RequestTracker | null;
};

/**
 * Called on entry to a portcullis middleware. Takes over the record an earlier portcullis
 * middleware of the chain made for this request, or makes one when someone listens to
 * `request.completed` now; returns null when nobody does (nothing was allocated or attached).
 * `ends`: the middleware ends the requests it takes (see {@link RequestRecord.ends}).
 *
 * @example
 * const record = takeRequest(res, ctx.emit, true);
 */
export function takeRequest(
  res: ServerResponse,
  emit: EmitEvent,
  ends: boolean,
): RequestRecord | null {
  const tracked = res as WithRecord;
  const existing = tracked[RECORD];
  if (existing !== undefined) {
    if (existing.done) return null;
    existing.emit = emit;
    if (ends) {
      // A gateway or route() after an unmatched one, or after guards: it now decides.
      existing.ends = true;
      existing.route = null;
      existing.unmatched = false;
    }
    return existing;
  }
  if (!isListening(emit, 'request.completed')) return null;
  const record: RequestRecord = {
    emit,
    startedAt: performance.now(),
    route: null,
    ends,
    unmatched: false,
    code: undefined,
    done: false,
  };
  tracked[RECORD] = record;
  // `on`, not `once` (which wraps the listener in a new closure): 'close' comes once.
  if (tracked[TRACKER] === undefined) res.on('close', onResponseClose);
  return record;
}

/**
 * A gateway took the request (a route matched): `tracker` is told now that it started, and when
 * it ends (its response closes, or the tunnel it becomes closes), whether anyone listens to
 * events or not. Costs a symbol property and the shared 'close' listener (one per response).
 *
 * @example
 * trackRequest(res, snapshot.inFlight);
 */
export function trackRequest(res: ServerResponse, tracker: RequestTracker): void {
  const tracked = res as WithRecord;
  const previous = tracked[TRACKER];
  if (previous === undefined) {
    // A record's listener serves the tracker too.
    if (tracked[RECORD] === undefined) res.on('close', onResponseClose);
  } else if (previous !== null) previous.requestEnded(res);
  tracked[TRACKER] = tracker;
  tracker.requestStarted(res);
}

/**
 * Notes the problem code the gateway answered with; called by the one problem sender.
 *
 * @example
 * recordProblem(res, 'rate_limited');
 */
export function recordProblem(res: ServerResponse, code: string): void {
  const record = (res as WithRecord)[RECORD];
  if (record !== undefined) record.code = code;
}

/**
 * A WebSocket handshake was answered on the client's socket by the upstream (its `101`, or the
 * answer with which it refused the upgrade, which http-proxy-middleware writes on the socket
 * itself): the response object will never emit 'close', and the HTTP exchange is over, so the
 * request is reported now (`status`, `outcome: 'proxied'`, the duration up to the handshake).
 * Its tracker keeps counting it until `socket` (the client's) closes; without one, it has ended.
 *
 * @example
 * res.detachSocket(socket);
 * requestTunnelled(res, 101, socket);
 */
export function requestTunnelled(res: ServerResponse, status: number, socket: Socket | null): void {
  const tracked = res as WithRecord;
  const tracker = tracked[TRACKER];
  if (tracker !== undefined && tracker !== null) {
    tracked[TRACKER] = null;
    if (socket === null) tracker.requestEnded(res);
    else tracker.requestTunnelled(res, socket);
  }
  const record = tracked[RECORD];
  if (record === undefined || record.done) return;
  record.done = true;
  res.off('close', onResponseClose);
  report(record, res, status, 'proxied');
}

function onResponseClose(this: ServerResponse): void {
  const tracked = this as WithRecord;
  const tracker = tracked[TRACKER];
  if (tracker !== undefined && tracker !== null) {
    tracked[TRACKER] = null;
    tracker.requestEnded(this);
  }
  const record = tracked[RECORD];
  if (record === undefined || record.done) return;
  record.done = true;
  // After every other 'close' listener (the proxy's `proxy.response` / `proxy.error`), so that
  // `request.completed` is a request's last event.
  process.nextTick(completeRequest, record, this);
}

function completeRequest(record: RequestRecord, res: ServerResponse): void {
  const code = record.code;
  // A guard (standalone authenticate()/rateLimit()) that let the request through did not end it.
  if (!record.ends && code === undefined && !record.unmatched) return;
  const finished = res.writableFinished;
  // Nothing was sent: the client left first (499, as nginx logs it).
  const status = finished || res.headersSent ? res.statusCode : 499;
  let outcome: RequestOutcome;
  if (code !== undefined) outcome = finished && status < 500 ? 'refused' : 'failed';
  else if (record.unmatched) outcome = 'unmatched';
  else if (!finished) outcome = 'failed';
  else if (wasForwarded(res.req as GatewayRequest)) outcome = 'proxied';
  // A matched request that the gateway neither forwarded nor answered: an unexpected error
  // went to `next(err)` and the host answered it.
  else outcome = 'failed';
  report(record, res, status, outcome);
}

/** A target was tried for the request (forward() sets `route.target` for each attempt). */
function wasForwarded(req: GatewayRequest): boolean {
  const target = req.gateway?.route?.target;
  return target !== undefined && target !== '';
}

function report(
  record: RequestRecord,
  res: ServerResponse,
  status: number,
  outcome: RequestOutcome,
): void {
  const req = res.req as GatewayRequest;
  const durationMs = Math.round((performance.now() - record.startedAt) * 1000) / 1000;
  const base = {
    type: 'request.completed' as const,
    requestId: requestIdOf(req),
    route: record.route,
    method: req.method ?? '',
    status,
    durationMs,
    outcome,
  };
  record.emit(record.code === undefined ? base : { ...base, code: record.code });
}

/**
 * The gateway's id for the request; for one that left untouched (unmatched), a valid incoming
 * `X-Request-Id`, else ''.
 */
function requestIdOf(req: GatewayRequest): string {
  const id = req.gateway?.requestId;
  if (id !== undefined) return id;
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && isValidRequestId(incoming) ? incoming : '';
}
