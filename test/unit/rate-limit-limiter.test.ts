import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sendProblem } from '../../src/problem.js';
import { createLimiter } from '../../src/rate-limit/limiter.js';
import { rateLimit } from '../../src/rate-limit/rate-limit.js';
import { parseRateLimitOptions } from '../../src/schema/rate-limit.js';
import type { RateLimitStore } from '../../src/stores/types.js';
import type { GatewayEvent, GatewayRequest } from '../../src/types.js';

// Time arithmetic only: the limiter's own clock and timers, faked. Everything the limiter does
// with real sockets and stores is in test/integration/rate-limit-express.test.ts and test/redis/.

function request(): { req: GatewayRequest; res: ServerResponse } {
  const req = new IncomingMessage(new Socket()) as GatewayRequest;
  req.headers = {};
  return { req, res: new ServerResponse(req) };
}

/** A store that never answers. */
const silent: RateLimitStore = { consume: () => new Promise(() => {}), reset() {} };

describe('createLimiter clock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('measures storeTimeout on the injected clock, from the end of the turn the request was asked in', async () => {
    let now = 1_000;
    const events: GatewayEvent[] = [];
    const limiter = createLimiter(
      parseRateLimitOptions({
        limit: 1,
        window: '1m',
        store: silent,
        storeTimeout: '100ms',
        clock: () => now,
      }).value,
      { emit: (e) => events.push(e), sendProblem },
    );
    const { req, res } = request();
    const result = limiter.step(req, res);
    expect(result).toBeInstanceOf(Promise);
    let answer: boolean | undefined;
    void (result as Promise<boolean>).then((ok) => {
      answer = ok;
    });

    now = 1_050; // the rest of the turn takes 50 ms of the clock: not counted
    vi.advanceTimersByTime(0); // the end of the turn: the deadline is now + 100 = 1_150
    now = 1_149;
    vi.advanceTimersByTime(500); // timers fire, but the clock says 99 ms have passed
    await Promise.resolve();
    expect(answer).toBeUndefined();
    expect(events).toEqual([]);

    now = 1_150;
    vi.advanceTimersByTime(5); // the sweep sees the deadline; the failure waits one more poll
    await Promise.resolve();
    expect(answer).toBe(true); // onStoreError 'allow'
    expect(events).toEqual([
      expect.objectContaining({ type: 'ratelimit.store_error', action: 'allow', error: 'timeout' }),
    ]);
    await limiter.close();
  });

  it('refuses a clock that is not a function, naming the field', () => {
    expect(() =>
      rateLimit({ limit: 1, window: '1m', clock: 5 as unknown as () => number }),
    ).toThrow(/^clock: must be a function/);
  });
});
