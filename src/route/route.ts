import type { ServerResponse } from 'node:http';
import type { ConsumerHeaderNames } from '../auth/consumer-headers.js';
import { createEmitter, isListening } from '../events.js';
import type { Lease } from '../gateway/registry.js';
import type { InternalContext } from '../pipeline.js';
import { sendProblem } from '../problem.js';
import { takeRequest } from '../request-completed.js';
import { gatewayContext } from '../request-id.js';
import {
  parseRouteOptions,
  type ResolvedRouteOptions,
  type RouteOptions,
} from '../schema/route.js';
import { traceServerRoute } from '../tracing/server-route.js';
import type { GatewayMiddleware, GatewayRequest, NextFunction } from '../types.js';
import { admitRequest } from './admit-request.js';
import {
  prepareRequestHeaders,
  type RequestHeaderPlan,
  requestHeaderPlan,
} from './forward-headers.js';
import { compileHostMatcher, type HostMatcher } from './host-matcher.js';
import { compilePathMatcher, type PathMatcher } from './path-matcher.js';
import { RouteProxy } from './proxy.js';
import { compileRewrite, RewriteRefusedError, type Rewriter } from './rewrite.js';
import { isUpgradeRequest } from './upgrades.js';
import { Upstreams } from './upstreams.js';

/**
 * A matched route: the normalised relative path and the params of the pattern.
 *
 * @example
 * const match: RouteMatch = { path: '/users/42', params: { id: '42' } };
 */
export interface RouteMatch {
  path: string;
  params: Record<string, unknown>;
}

/**
 * A route compiled once, as `createGateway` drives it: the gateway judges the
 * request (`admitRequest`), picks the route (`match`, `allowsMethod`), runs
 * auth and limits, then calls `forward`. `methods` is `null` (every method) by default.
 *
 * @example
 * const match = compiled.match(path, req);
 * if (match && compiled.allowsMethod(req.method)) compiled.forward(req, res, next, match);
 */
export interface CompiledRoute {
  readonly name: string | undefined;
  /** How events and metrics name the route: its `name`, else its path template. */
  readonly label: string;
  /** The route's `path` as written: its `http.route` on the host's server span. */
  readonly template: string;
  /** Upper-case; `null` = every method. */
  readonly methods: readonly string[] | null;
  readonly websocket: boolean;
  /** Path and host only (not the method). */
  match(path: string, req: GatewayRequest): RouteMatch | null;
  allowsMethod(method: string): boolean;
  /**
   * Sets `req.gateway.route`, rewrites, forwards (portcullis' forwarder, or
   * http-proxy-middleware for `proxy` options), answers 502/503/504 via
   * `ctx.sendProblem`, emits `proxy.response` /
   * `proxy.error`. Tunnels upgrade requests from `handleUpgrades` when
   * `websocket` is true. Answers 400 `bad_request` first, forwarding nothing,
   * for any `Upgrade` header other than `websocket` alone (case-insensitive)
   * — on every route, on upgrades and ordinary requests alike — and for an
   * upgrade through `handleUpgrades` that is not a `GET` to a `websocket` route.
   * A `rewrite` that throws or gives a path a client path would be refused
   * for: 500 `internal_error` and a `proxy.error` event, nothing forwarded.
   * Unexpected errors go to `next(err)`.
   */
  forward(req: GatewayRequest, res: ServerResponse, next: NextFunction, match: RouteMatch): void;
  /** Releases what the route holds itself (its targets and agents belong to the gateway's {@link Upstreams}). */
  close(): Promise<void>;
}

/**
 * What compileRoute needs from the gateway besides the options: the gateway's
 * {@link Upstreams} (the route's targets, agents and send queue come from it),
 * the lease of the configuration being compiled, which holds the route's targets
 * (default none: held until the upstreams close), and its consumer header names
 * (default `x-consumer-id`, `x-consumer-scopes` and `x-consumer-type`).
 *
 * @example
 * const ctx: RouteContext = { emit, sendProblem, upstreams, lease, consumerHeaders: authenticator.consumerHeaders };
 */
export type RouteContext = InternalContext & {
  upstreams: Upstreams;
  lease?: Lease | undefined;
  consumerHeaders?: ConsumerHeaderNames | undefined;
};

/**
 * Compiles one parsed route (see `parseRouteOptions`, or `routes` of `parseGatewayConfig`).
 * Never throws a configuration error: the options were validated when parsed.
 *
 * @example
 * const compiled = compileRoute(parseRouteOptions({ path: '/users/:id', target: 'http://users:8080' }).value, ctx);
 * const match = compiled.match('/users/42', req); // { path: '/users/42', params: { id: '42' } }
 */
export function compileRoute(options: ResolvedRouteOptions, ctx: RouteContext): CompiledRoute {
  return new Route(options, ctx);
}

class Route implements CompiledRoute {
  readonly name: string | undefined;
  readonly label: string;
  readonly template: string;
  readonly methods: readonly string[] | null;
  readonly websocket: boolean;
  private readonly methodSet: ReadonlySet<string> | null;
  private readonly matchPath: PathMatcher;
  private readonly matchHost: HostMatcher | null;
  private readonly rewrite: Rewriter | null;
  private readonly headerPlan: RequestHeaderPlan;
  private readonly proxy: RouteProxy;
  private readonly ctx: InternalContext;

  constructor(options: ResolvedRouteOptions, ctx: RouteContext) {
    // Validated when parsed: these compilers never throw here (the field names are for form's sake).
    this.ctx = ctx;
    this.name = options.name;
    this.label = options.name ?? options.path;
    this.template = options.path;
    this.methods = options.methods;
    this.methodSet = options.methods === null ? null : new Set(options.methods);
    this.websocket = options.websocket;
    this.matchPath = compilePathMatcher(
      options.path,
      { caseSensitive: options.caseSensitive },
      'path',
    );
    this.matchHost = options.host === undefined ? null : compileHostMatcher(options.host, 'host');
    this.rewrite =
      options.rewrite === undefined
        ? null
        : compileRewrite(options.rewrite, options.path, 'rewrite');
    this.headerPlan = requestHeaderPlan(
      options.requestHeaders,
      ctx.consumerHeaders ?? options.consumerHeaders,
    );
    // Last: its upstreams open agents, so everything that can throw has been checked.
    this.proxy = new RouteProxy(options, ctx, ctx.upstreams.forRoute(options, ctx.lease, ctx.emit));
  }

  match(path: string, req: GatewayRequest): RouteMatch | null {
    if (this.matchHost !== null && !this.matchHost(req.headers.host)) return null;
    const matched = this.matchPath(path);
    return matched === null ? null : { path, params: matched.params };
  }

  allowsMethod(method: string): boolean {
    return this.methodSet === null || this.methodSet.has(method);
  }

  forward(req: GatewayRequest, res: ServerResponse, next: NextFunction, match: RouteMatch): void {
    try {
      // Decided on the client's own Upgrade header, before prepareRequestHeaders replaces it.
      const upgradeProblem = judgeUpgrade(req, this.websocket);
      if (upgradeProblem !== null) {
        this.ctx.sendProblem(req, res, { code: 'bad_request', detail: upgradeProblem });
        return;
      }
      const gateway = gatewayContext(req, res);
      gateway.route =
        this.name === undefined
          ? { path: match.path, params: match.params, target: '' }
          : { name: this.name, path: match.path, params: match.params, target: '' };
      if (this.rewrite !== null) {
        const url = req.url ?? '';
        const queryStart = url.indexOf('?');
        let rewritten: string;
        try {
          rewritten = this.rewrite({ path: match.path, params: match.params, req });
        } catch (err) {
          this.rewriteFailed(req, res, gateway.requestId, err);
          return;
        }
        req.url = queryStart === -1 ? rewritten : rewritten + url.slice(queryStart);
      }
      prepareRequestHeaders(
        req,
        gateway.requestId,
        this.headerPlan,
        this.websocket && isUpgradeRequest(req),
      );
      this.proxy.forward(req, res);
    } catch (err) {
      next(err);
    }
  }

  /**
   * A rewrite failed or gave a path that may not be forwarded: the operator's error, answered
   * 500 `internal_error` with a `proxy.error` event; nothing is forwarded. The event says why in
   * fixed words only (the function's own message or the path could carry anything).
   */
  private rewriteFailed(
    req: GatewayRequest,
    res: ServerResponse,
    requestId: string,
    err: unknown,
  ): void {
    if (isListening(this.ctx.emit, 'proxy.error')) {
      this.ctx.emit({
        type: 'proxy.error',
        requestId,
        route: this.label,
        // No upstream attempt was made.
        attempt: 0,
        status: 500,
        code: 'internal_error',
        error:
          err instanceof RewriteRefusedError
            ? `rewrite result refused (${err.reason})`
            : 'rewrite function threw',
        durationMs: 0,
      });
    }
    this.ctx.sendProblem(req, res, {
      code: 'internal_error',
      detail: 'The route could not build the path to forward.',
    });
  }

  close(): Promise<void> {
    return this.proxy.close();
  }
}

/**
 * Routing and proxying as one middleware: judges the path (400/431 for what
 * may not be forwarded), matches it relative to the mount point with the
 * methods and host, and forwards a match to the target(s); anything else goes
 * to `next()` untouched. Client-sent consumer headers (`consumerHeaders`, default
 * `X-Consumer-Id` / `-Scopes` / `-Type`) are removed unless an `authenticate()` before it
 * set them. See {@link RouteOptions} for every option and its default.
 *
 * @example
 * app.use('/api', route({
 *   path: '/users{/*path}',
 *   target: 'http://localhost:8081',
 *   rewrite: '/{*path}',
 *   methods: ['GET', 'POST'],
 * }));
 */
export function route(options: RouteOptions): GatewayMiddleware {
  const { value: resolved, warnings } = parseRouteOptions(options);
  const emit = createEmitter(resolved.onEvent);
  for (const warning of warnings) emit({ type: 'config.warning', ...warning });
  // A standalone route owns its upstreams (send queue, agents) as a gateway does.
  const upstreams = new Upstreams(emit);
  const ctx: RouteContext = { emit, sendProblem, upstreams };
  const compiled = new Route(resolved, ctx);
  const label = compiled.label;
  const middleware = (req: GatewayRequest, res: ServerResponse, next: NextFunction): void => {
    try {
      // `request.completed`, only when someone listens (null: nothing was spent).
      const record = takeRequest(res, ctx.emit, true);
      const originalUrl = req.url;
      const path = admitRequest(req, res, ctx);
      if (path === null) return;
      const match = compiled.match(path, req);
      if (match === null || !compiled.allowsMethod(req.method ?? 'GET')) {
        req.url = originalUrl;
        if (record !== null) record.unmatched = true;
        next();
        return;
      }
      if (record !== null) record.route = label;
      traceServerRoute(compiled.template);
      compiled.forward(req, res, next, match);
    } catch (err) {
      next(err);
    }
  };
  Object.defineProperty(middleware, 'name', { value: 'portcullisRoute' });
  const close = async (): Promise<void> => {
    await compiled.close();
    await upstreams.close();
  };
  return Object.assign(middleware, { close }) as GatewayMiddleware;
}

/**
 * Why a matched request's `Upgrade` may not go on (the 400's `detail`), or
 * `null`. Only `websocket` alone (any case) is ever tunnelled: `h2c`, `foo`,
 * `websocket, h2c` (or two Upgrade lines, which Node joins) are refused, also
 * on an ordinary request event that merely carries the header, so no upstream
 * can be talked into switching protocols behind the gateway's back.
 */
function judgeUpgrade(req: GatewayRequest, websocket: boolean): string | null {
  const upgrade = req.headers.upgrade;
  const handshake = isUpgradeRequest(req);
  if (upgrade === undefined && !handshake) return null;
  if (upgrade === undefined || !isWebSocketToken(upgrade)) {
    return 'Only "Upgrade: websocket" is accepted.';
  }
  // An ordinary request with Upgrade: websocket is forwarded as such, the hop-by-hop header dropped.
  if (!handshake) return null;
  if (!websocket) return 'This route does not accept WebSocket upgrades.';
  if (req.method !== 'GET') return 'A WebSocket upgrade must be a GET request.';
  return null;
}

function isWebSocketToken(value: string): boolean {
  return value.length === 9 && (value === 'websocket' || value.toLowerCase() === 'websocket');
}
