// portcullis — an embeddable API gateway for Express.
// Public exports, one line each; types with `export type`.

export { authenticate } from './auth/authenticate.js';
export { hashApiKey } from './auth/hash-api-key.js';
export { hashPassword } from './auth/password-hash.js';
export type { GatewayConfigErrorCode, GatewayConfigIssue } from './errors.js';
export { GatewayConfigError } from './errors.js';
export type {
  Gateway,
  GatewayCloseOptions,
  GatewayConfig,
  GatewayRouteOptions,
  RouteAuth,
} from './gateway.js';
export { createGateway } from './gateway.js';
export type { ErrorResponder, Problem, ProblemCode } from './problem.js';
export { rateLimit } from './rate-limit/rate-limit.js';
export { route } from './route/route.js';
export { handleUpgrades } from './route/upgrades.js';
export type {
  ApiKeyEntry,
  ApiKeyOptions,
  ApiKeyVerifier,
  AuthOptions,
  AuthRequirement,
  BasicOptions,
  BasicUser,
  BasicVerifier,
  ConsumerHeaderOptions,
  CustomVerifier,
  JwtAlgorithm,
  JwtKeySource,
  JwtOptions,
} from './schema/auth.js';
export type { Duration } from './schema/duration.js';
export type {
  HeadersMode,
  PolicyOptions,
  RateLimitKey,
  RateLimitOptions,
  RequestFunction,
} from './schema/rate-limit.js';
export type {
  HeaderRules,
  RewriteContext,
  RouteOptions,
  RouteProxyOptions,
  RouteRewrite,
  RouteTarget,
  WeightedTarget,
} from './schema/route.js';
export type { MemoryStoreOptions } from './stores/memory-store.js';
export { MemoryStore } from './stores/memory-store.js';
export type { RedisStoreOptions } from './stores/redis-store.js';
export { RedisStore } from './stores/redis-store.js';
export type {
  Algorithm,
  ChargeReceipt,
  Clock,
  Policy,
  RateLimitStore,
} from './stores/types.js';
export type {
  GatewayContext,
  GatewayEvent,
  GatewayEventListener,
  GatewayEventOf,
  GatewayEventType,
  GatewayMiddleware,
  MatchedRoute,
  NextFunction,
  Principal,
  PrincipalType,
  RateLimitDecision,
  RequestOutcome,
} from './types.js';
