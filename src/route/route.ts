import type { ServerResponse } from 'node:http';
import type { ConsumerHeaderNames } from '../auth/consumer-headers.js';
import { GatewayConfigError } from '../errors.js';
import { createEmitter } from '../events.js';
import type { InternalContext } from '../pipeline.js';
import { sendProblem } from '../problem.js';
import { gatewayContext } from '../request-id.js';
import type { GatewayMiddleware, GatewayRequest, NextFunction } from '../types.js';
import { admitRequest } from './admit-request.js';
import {
  prepareRequestHeaders,
  type RequestHeaderPlan,
  requestHeaderPlan,
} from './forward-headers.js';
import { compileHostMatcher, type HostMatcher } from './host-matcher.js';
import { type ResolvedRouteOptions, type RouteOptions, resolveRouteOptions } from './options.js';
import { compilePathMatcher, type PathMatcher } from './path-matcher.js';
import { RouteProxy } from './proxy.js';
import { compileRewrite, type Rewriter } from './rewrite.js';
import { isUpgradeRequest } from './upgrades.js';

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
  /** Upper-case; `null` = every method. */
  readonly methods: readonly string[] | null;
  readonly websocket: boolean;
  /** Path and host only (not the method). */
  match(path: string, req: GatewayRequest): RouteMatch | null;
  allowsMethod(method: string): boolean;
  /**
   * Sets `req.gateway.route`, rewrites, forwards through http-proxy-middleware,
   * answers 502/503/504 via `ctx.sendProblem`, emits `proxy.response` /
   * `proxy.error`. Tunnels upgrade requests from `handleUpgrades` when
   * `websocket` is true. Unexpected errors (a throwing rewrite function) go to `next(err)`.
   */
  forward(req: GatewayRequest, res: ServerResponse, next: NextFunction, match: RouteMatch): void;
  /** Destroys the keep-alive agents the route created. */
  close(): Promise<void>;
}

/**
 * What compileRoute needs from the gateway besides the options (consumer headers default to
 * `x-consumer-id`, `x-consumer-scopes` and `x-consumer-type`).
 *
 * @example
 * const ctx: RouteContext = { emit, sendProblem, consumerHeaders: authenticator.consumerHeaders };
 */
export type RouteContext = InternalContext & {
  consumerHeaders?: ConsumerHeaderNames | undefined;
};

/**
 * Compiles one route (options validated now; mistakes throw
 * `GatewayConfigError` naming `field`, e.g. `routes[1].target`).
 *
 * @example
 * const compiled = compileRoute({ path: '/users/:id', target: 'http://users:8080' }, 'routes[0]', ctx);
 * const match = compiled.match('/users/42', req); // { path: '/users/42', params: { id: '42' } }
 */
export function compileRoute(
  options: RouteOptions,
  field: string,
  ctx: RouteContext,
): CompiledRoute {
  return new Route(resolveRouteOptions(options, field, false), field, ctx);
}

class Route implements CompiledRoute {
  readonly name: string | undefined;
  readonly methods: readonly string[] | null;
  readonly websocket: boolean;
  private readonly methodSet: ReadonlySet<string> | null;
  private readonly matchPath: PathMatcher;
  private readonly matchHost: HostMatcher | null;
  private readonly rewrite: Rewriter | null;
  private readonly headerPlan: RequestHeaderPlan;
  private readonly proxy: RouteProxy;

  constructor(options: ResolvedRouteOptions, field: string, ctx: RouteContext) {
    const at = (key: string): string => (field ? `${field}.${key}` : key);
    this.name = options.name;
    this.methods = options.methods;
    this.methodSet = options.methods === null ? null : new Set(options.methods);
    this.websocket = options.websocket;
    this.matchPath = compilePathMatcher(
      options.path,
      { caseSensitive: options.caseSensitive },
      at('path'),
    );
    this.matchHost =
      options.host === undefined ? null : compileHostMatcher(options.host, at('host'));
    this.rewrite =
      options.rewrite === undefined
        ? null
        : compileRewrite(options.rewrite, options.path, at('rewrite'));
    if (ctx.consumerHeaders !== undefined && options.consumerHeaders !== undefined) {
      throw new GatewayConfigError(
        at('consumerHeaders'),
        "the gateway's routes use the names of auth.consumerHeaders; set them there",
      );
    }
    this.headerPlan = requestHeaderPlan(
      options.requestHeaders,
      ctx.consumerHeaders ?? options.consumerHeaders,
    );
    // Last: it opens agents, so everything that can throw has been checked.
    this.proxy = new RouteProxy(options, ctx);
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
      const gateway = gatewayContext(req, res);
      gateway.route =
        this.name === undefined
          ? { path: match.path, params: match.params, target: '' }
          : { name: this.name, path: match.path, params: match.params, target: '' };
      if (this.rewrite !== null) {
        const url = req.url ?? '';
        const queryStart = url.indexOf('?');
        const rewritten = this.rewrite({ path: match.path, params: match.params, req });
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
  const resolved = resolveRouteOptions(options, '', true);
  const ctx: InternalContext = { emit: createEmitter(resolved.onEvent), sendProblem };
  const compiled = new Route(resolved, '', ctx);
  const middleware = (req: GatewayRequest, res: ServerResponse, next: NextFunction): void => {
    try {
      const originalUrl = req.url;
      const path = admitRequest(req, res, ctx);
      if (path === null) return;
      const match = compiled.match(path, req);
      if (match === null || !compiled.allowsMethod(req.method ?? 'GET')) {
        req.url = originalUrl;
        next();
        return;
      }
      compiled.forward(req, res, next, match);
    } catch (err) {
      next(err);
    }
  };
  Object.defineProperty(middleware, 'name', { value: 'portcullisRoute' });
  return Object.assign(middleware, { close: () => compiled.close() }) as GatewayMiddleware;
}
