import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { InFlight } from '../../src/gateway/in-flight.js';
import { trackRequest } from '../../src/request-completed.js';

/** A real ServerResponse (no server needed: InFlight only counts and destroys them). */
function response(): ServerResponse {
  return new ServerResponse(new IncomingMessage(new Socket()));
}

async function settled(promise: Promise<void>): Promise<boolean> {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('InFlight', () => {
  it('counts each request once, through many starts and ends, and reuses freed slots', () => {
    const inFlight = new InFlight();
    const open: ServerResponse[] = [];
    for (let i = 0; i < 1_000; i++) {
      const res = response();
      inFlight.requestStarted(res);
      open.push(res);
      // Keep about 20 in flight, ending the oldest: the churn of a busy gateway.
      if (open.length > 20) inFlight.requestEnded(open.shift() as ServerResponse);
    }
    expect(inFlight.count).toBe(20);
    // Ending one twice, or one it never had, changes nothing.
    const ended = open.shift() as ServerResponse;
    inFlight.requestEnded(ended);
    inFlight.requestEnded(ended);
    inFlight.requestEnded(response());
    expect(inFlight.count).toBe(19);
    for (const res of open) inFlight.requestEnded(res);
    expect(inFlight.count).toBe(0);
  });

  it('lets a response move from one configuration to the next without losing either count', async () => {
    const older = new InFlight();
    const newer = new InFlight();
    const res = response();
    trackRequest(res, older);
    expect(older.count).toBe(1);
    // A second gateway (or a newer configuration) takes the same request over.
    trackRequest(res, newer);
    expect(older.count).toBe(0);
    expect(newer.count).toBe(1);
    older.retire();
    expect(await settled(older.idle)).toBe(true);
    newer.retire();
    expect(await settled(newer.idle)).toBe(false);
    res.emit('close');
    expect(newer.count).toBe(0);
    expect(await settled(newer.idle)).toBe(true);
  });

  it('cut() destroys exactly the responses still in flight', () => {
    const inFlight = new InFlight();
    const finished = response();
    const open = [response(), response()];
    inFlight.requestStarted(finished);
    for (const res of open) inFlight.requestStarted(res);
    inFlight.requestEnded(finished);
    inFlight.cut();
    expect(open.map((res) => res.destroyed)).toEqual([true, true]);
    expect(finished.destroyed).toBe(false);
  });
});
