import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RateLimitDecision } from './stores/types.js';

// The store contract owns the decision's shape; it is re-exported here beside the request types.
export type { RateLimitDecision } from './stores/types.js';

/** How a principal was authenticated. */
export type PrincipalType = 'apiKey' | 'jwt' | 'basic' | 'custom' | 'anonymous';

/** The authenticated caller, set on `req.gateway.principal` by `authenticate()`. */
export interface Principal {
  /** Consumer id: the key's `id`, a JWT's `sub`, a Basic username, or `'anonymous'`. */
  id: string;
  type: PrincipalType;
  scopes: string[];
  /** Selects a rate limit plan (see `rateLimit({ plans })`). */
  plan?: string;
  /** Verified JWT claims (JWT principals only). */
  claims?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/** The route a request matched, on `req.gateway.route`. */
export interface MatchedRoute {
  name?: string;
  /** The normalised path that was matched, relative to the mount point, before any rewrite. */
  path: string;
  params: Record<string, unknown>;
  /** The upstream chosen for this request (credentials removed from the URL). */
  target: string;
}

/** Request-scoped results, on `req.gateway`. */
export interface GatewayContext {
  principal?: Principal;
  rateLimit?: RateLimitDecision[];
  route?: MatchedRoute;
  /** The incoming `X-Request-Id` when valid, else a generated UUID. */
  requestId: string;
}

declare global {
  namespace Express {
    interface Request {
      /** Set by portcullis middlewares. */
      gateway?: GatewayContext;
    }
  }
}

/** The request as the middlewares see it: Node's message plus what Express adds when present. */
export interface GatewayRequest extends IncomingMessage {
  gateway?: GatewayContext;
  /** Express's client address (honours `trust proxy`). */
  ip?: string;
  /** Express's mount path. */
  baseUrl?: string;
  originalUrl?: string;
  /** Set by body parsers that ran before the gateway. */
  body?: unknown;
}

export type NextFunction = (err?: unknown) => void;

/**
 * What every factory returns: an ordinary `(req, res, next)` middleware with a
 * `close()` that releases the timers, sockets and store connections it opened
 * itself (never a Redis client you passed in).
 */
export interface GatewayMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: NextFunction): void;
  close(): Promise<void>;
}

/** Structured diagnostics. They never carry a key, token, password or secret. */
export type GatewayEvent =
  | {
      type: 'auth.succeeded';
      requestId: string;
      strategy: PrincipalType;
      consumerId: string;
      route?: string;
    }
  | {
      type: 'auth.failed';
      requestId: string;
      /** The strategy whose credentials were presented, if any. */
      strategy?: PrincipalType;
      /** e.g. `'missing_credentials'`, `'invalid_key'`, `'token_expired'`, `'insufficient_scope'`. */
      reason: string;
      status: 401 | 403 | 500;
      consumerId?: string;
      route?: string;
    }
  | {
      type: 'ratelimit.refused';
      requestId: string;
      policies: string[];
      consumerId?: string;
      route?: string;
    }
  | {
      type: 'ratelimit.store_error';
      requestId: string;
      /** What the limiter did: let the request through or refuse it with 503. */
      action: 'allow' | 'deny';
      /** `'timeout'` or the store error's message. */
      error: string;
      route?: string;
    }
  | {
      type: 'proxy.error';
      requestId: string;
      route?: string;
      target?: string;
      status: number;
      code: string;
      error: string;
      durationMs: number;
    }
  | {
      type: 'proxy.response';
      requestId: string;
      route?: string;
      target: string;
      status: number;
      durationMs: number;
    }
  | { type: 'config.warning'; field: string; message: string };

export type GatewayEventListener = (event: GatewayEvent) => void;
