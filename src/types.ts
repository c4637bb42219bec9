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

/**
 * How a request the gateway handled ended (`request.completed`):
 * - `proxied`: an upstream's response was relayed whole (whatever its status);
 * - `refused`: the gateway answered a 4xx problem itself (400, 401, 403, 404, 405, 408, 413, 429, 431);
 * - `failed`: the gateway answered a 5xx problem, the exchange was cut before the response was
 *   complete (upstream died mid-response, the client left), or an unexpected error went to `next(err)`;
 * - `unmatched`: no route matched and the request went on to the host app (`fallthrough`).
 *
 * @example
 * if (event.type === 'request.completed' && event.outcome === 'failed') alert(event);
 */
export type RequestOutcome = 'proxied' | 'refused' | 'failed' | 'unmatched';

/**
 * Structured diagnostics, given to `onEvent` and published on the `node:diagnostics_channel`
 * channel `portcullis:<type>`. They never carry a key, token, password or secret.
 *
 * @example
 * createGateway({ routes, onEvent: (event) => logger.info(event, event.type) });
 */
export type GatewayEvent =
  | {
      type: 'auth.succeeded';
      requestId: string;
      strategy: PrincipalType;
      consumerId: string;
      /** The route's `name`, else its path template; absent for a standalone middleware. */
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
      /** The names of the policies the failed store call was deciding. */
      policies: string[];
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
      /** Absent when no target was tried (every target down). */
      target?: string;
      /** 1 for the first attempt, 2 for the first retry, …; 0 when no target was tried. */
      attempt: number;
      status: number;
      code: string;
      error: string;
      /** How long the attempt took (0 when none was made). */
      durationMs: number;
    }
  | {
      type: 'proxy.response';
      requestId: string;
      route?: string;
      target: string;
      /** 1 for the first attempt, 2 for the first retry, … */
      attempt: number;
      status: number;
      /** How long the attempt took, until the response to the client was complete. */
      durationMs: number;
    }
  | {
      type: 'request.completed';
      requestId: string;
      /** The matched route's `name`, else its path template; `null` when no route was matched. */
      route: string | null;
      method: string;
      /** What the client received; 499 when it left before any response was sent. */
      status: number;
      /** From the first portcullis middleware that saw the request to the end of its response. */
      durationMs: number;
      outcome: RequestOutcome;
      /** The problem code when the gateway answered the request itself (e.g. `'rate_limited'`). */
      code?: string;
    }
  | {
      type: 'target.health';
      /** The route's `name`, else its path template. */
      route: string;
      /** The target's URL without credentials. */
      target: string;
      /** `false`: marked down and skipped; `true`: takes traffic again. */
      healthy: boolean;
      /** Why: `'connect_failed'` or `'timeout'` when marked down, `'cooldown_elapsed'` when it comes back. */
      reason: string;
    }
  | {
      type: 'config.updated';
      /**
       * The configuration's number: the one given to `createGateway` is 1 (no event is emitted
       * for it), each configuration `gateway.update()` applies is the next.
       */
      version: number;
      /**
       * 16 hex digits of the SHA-256 of the configuration's data part in canonical form (object
       * keys sorted; functions and objects such as a store left out): the same data gives the same
       * hash whatever its key order.
       */
      hash: string;
    }
  | {
      type: 'config.rejected';
      /**
       * Why (a `GatewayConfigError` message: the field path and what is wrong, never a secret).
       * Emitted to the running configuration's `onEvent`, which keeps serving.
       */
      error: string;
    }
  | { type: 'config.warning'; field: string; message: string };

/**
 * The `type` of every event.
 *
 * @example
 * const channelName = (type: GatewayEventType) => `portcullis:${type}`;
 */
export type GatewayEventType = GatewayEvent['type'];

/**
 * The event of one type.
 *
 * @example
 * const statuses: number[] = [];
 * const onCompleted = (event: GatewayEventOf<'request.completed'>) => statuses.push(event.status);
 */
export type GatewayEventOf<T extends GatewayEventType> = Extract<GatewayEvent, { type: T }>;

export type GatewayEventListener = (event: GatewayEvent) => void;
