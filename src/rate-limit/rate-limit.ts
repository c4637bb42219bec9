import { createEmitter } from '../events.js';
import { stepMiddleware } from '../pipeline.js';
import { sendProblem } from '../problem.js';
import { parseRateLimitOptions, type RateLimitOptions } from '../schema/rate-limit.js';
import type { GatewayMiddleware } from '../types.js';
import { createLimiter } from './limiter.js';

/**
 * Rate limiting middleware. Decides every policy of a request at once (all
 * must admit, or none is charged), sets the IETF `RateLimit-Policy` /
 * `RateLimit` headers, and answers 429 problem+json with `Retry-After`.
 * Options are validated now: a mistake throws `GatewayConfigError`.
 *
 * Defaults: `algorithm` `'token-bucket'`, key = principal id when
 * authenticated else `req.ip` (IPv6 by /56), `cost` 1, `headers` `'draft'`,
 * a bounded `MemoryStore`, `onStoreError` `'allow'`, `storeTimeout` `'100ms'`.
 * `close()` releases the MemoryStore it created (never a store you passed).
 *
 * @example
 * app.use('/api', rateLimit({ limit: 5, window: '1m' }));
 * app.use('/search', rateLimit({ limits: [
 *   { limit: 10, window: '1s', name: 'burst' },
 *   { limit: 1000, window: '1d', name: 'daily', algorithm: 'fixed-window' },
 * ], store: new RedisStore({ client: redis }) }));
 */
export function rateLimit(options: RateLimitOptions): GatewayMiddleware {
  const { value, warnings } = parseRateLimitOptions(options);
  const emit = createEmitter(value.onEvent);
  for (const warning of warnings) emit({ type: 'config.warning', ...warning });
  const limiter = createLimiter(value, { emit, sendProblem });
  return stepMiddleware('rateLimitMiddleware', limiter.step, () => limiter.close(), emit);
}
