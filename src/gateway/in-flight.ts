import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestTracker } from '../request-completed.js';

/** A tracked response's slot in its InFlight (a response is tracked by one at a time). */
const SLOT = Symbol('portcullis.inFlightSlot');
type WithSlot = ServerResponse & { [SLOT]?: number };

function isResponse(value: ServerResponse | null): value is ServerResponse {
  return value !== null;
}

/**
 * The requests one compiled configuration is serving: every request one of its
 * routes matched, until its response closes, and every WebSocket tunnel such a
 * request became, until its client socket closes. (Requests it answered at once
 * — 400, 404, 405 — or handed on unmatched use nothing that could be released.)
 * Fed by the gateway's "request ended" hook (`trackRequest` in
 * `request-completed.ts`).
 *
 * Once the configuration is retired (replaced by an update, or the gateway is
 * closing), `idle` resolves after its last request has ended: one loop turn
 * later, so every other listener of that last 'close' (the proxy aborting its
 * upstream request, `request.completed`) has run before its resources go.
 * `cut()` ends what is left at once (a drain whose grace ran out).
 *
 * @example
 * const inFlight = new InFlight();
 * trackRequest(res, inFlight);            // counted until res closes
 * inFlight.retire();
 * await inFlight.idle;                    // its last request has ended
 */
export class InFlight implements RequestTracker {
  /**
   * The requests in flight, each in a slot of its own (its index kept on the response); a free
   * slot holds `null` and is listed in `freeSlots`. Not a `Set`: a Set that sees one add and one
   * delete per request is rebuilt every few dozen requests, and V8 links each retired table to
   * its successor (for iterators), so once one retired table reaches the old generation, every
   * later table, with the responses it held, survives the young-generation collections until
   * the next full one: the gateway's collector then copied about ten times what it needed to,
   * at about a third more CPU per request behind an asynchronous store.
   */
  private readonly slots: (ServerResponse | null)[] = [];
  private readonly freeSlots: number[] = [];
  private requestCount = 0;
  private readonly tunnels = new Set<Socket>();
  private retired = false;
  private scheduled = false;
  private resolveIdle: (() => void) | null = null;
  /** Resolves once the configuration is retired and nothing of it is in flight. */
  readonly idle: Promise<void>;

  constructor() {
    this.idle = new Promise<void>((resolve) => {
      this.resolveIdle = resolve;
    });
  }

  /** Requests and tunnels in flight now. */
  get count(): number {
    return this.requestCount + this.tunnels.size;
  }

  requestStarted(res: ServerResponse): void {
    const slot = this.freeSlots.pop() ?? this.slots.length;
    this.slots[slot] = res;
    (res as WithSlot)[SLOT] = slot;
    this.requestCount++;
  }

  requestEnded(res: ServerResponse): void {
    if (this.release(res) && this.retired) this.checkIdle();
  }

  requestTunnelled(res: ServerResponse, socket: Socket): void {
    this.release(res);
    if (socket.destroyed) {
      if (this.retired) this.checkIdle();
      return;
    }
    this.tunnels.add(socket);
    // Tunnels are few and long: a closure each is fine here.
    socket.once('close', () => {
      if (this.tunnels.delete(socket) && this.retired) this.checkIdle();
    });
  }

  /** No new request will come: `idle` resolves once the last one in flight has ended. */
  retire(): void {
    this.retired = true;
    this.checkIdle();
  }

  /**
   * Ends everything still in flight: each client response is destroyed (its socket closed,
   * which aborts its upstream request) and each tunnel's client socket (which closes the
   * upstream side too).
   */
  cut(): void {
    for (const res of this.slots.filter(isResponse)) res.destroy();
    for (const socket of [...this.tunnels]) socket.destroy();
  }

  /** Frees `res`'s slot; false when it was not in flight here. */
  private release(res: ServerResponse): boolean {
    const slot = (res as WithSlot)[SLOT];
    if (slot === undefined || this.slots[slot] !== res) return false;
    this.slots[slot] = null;
    this.freeSlots.push(slot);
    this.requestCount--;
    return true;
  }

  private checkIdle(): void {
    if (this.scheduled || this.count !== 0) return;
    this.scheduled = true;
    setImmediate(() => {
      const resolve = this.resolveIdle;
      this.resolveIdle = null;
      resolve?.();
    });
  }
}
