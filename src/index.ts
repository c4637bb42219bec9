// portcullis — an embeddable API gateway for Express.
// Public exports, one line each; types with `export type`.

export { createGateway } from './gateway.js';
export type { GatewayConfig, GatewayRouteOptions, RouteAuth } from './gateway.js';
export { authenticate } from './auth/authenticate.js';
export { hashApiKey } from './auth/hash-api-key.js';
export { hashPassword } from './auth/password-hash.js';
export type * from './auth/options.js';
export { rateLimit } from './rate-limit/rate-limit.js';
export type * from './rate-limit/options.js';
export { MemoryStore } from './stores/memory-store.js';
export { RedisStore } from './stores/redis-store.js';
export type * from './stores/types.js';
export { route } from './route/route.js';
export type * from './route/options.js';
export { handleUpgrades } from './route/upgrades.js';
export { GatewayConfigError } from './errors.js';
export type { GatewayConfigErrorCode } from './errors.js';
export type { Duration } from './duration.js';
export type { ErrorResponder, Problem, ProblemCode } from './problem.js';
export type {
  GatewayContext,
  GatewayEvent,
  GatewayEventListener,
  GatewayMiddleware,
  MatchedRoute,
  NextFunction,
  Principal,
  PrincipalType,
  RateLimitDecision,
} from './types.js';
