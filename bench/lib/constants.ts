// Values every scenario shares, so the only difference between scenarios is the stack under test.

/** The API key the load generator presents (and the hand-composed stack accepts). */
export const BENCH_KEY = 'bench-key-7f3c9a1e5b2d4f60';

/** Other valid keys, so key lookup is not a one-entry special case in either stack. */
export const OTHER_KEYS = ['bench-key-alice-0001', 'bench-key-bob-0002', 'bench-key-carol-0003'];

/** What the upstream answers to every request: a small fixed JSON body. */
export const UPSTREAM_BODY = JSON.stringify({ ok: true, service: 'upstream', items: [1, 2, 3] });

/** The path every scenario is loaded on: mounted at /api, routed by /svc, rewritten to /hello. */
export const REQUEST_PATH = '/api/svc/hello';

/**
 * A limit no run can reach: every request of a run comes from 127.0.0.1 with the same key,
 * so a real limit would start refusing and time the 429 path instead of the allowed one.
 */
export const NEVER_REACHED_LIMIT = 1_000_000_000;

/** Redis every Redis scenario and benchmark uses (traffic only to 127.0.0.1). */
export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;
