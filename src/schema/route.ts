import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { Options as HpmOptions } from 'http-proxy-middleware';
import * as z from 'zod';
import type { ConsumerHeaderNames } from '../auth/consumer-headers.js';
import { CONNECTION_HEADERS } from '../route/hop-by-hop.js';
import { configuredHostProblem } from '../route/host-matcher.js';
import { checkRoutePattern } from '../route/path-matcher.js';
import { checkRewriteTemplate } from '../route/rewrite.js';
import type { GatewayEventListener, GatewayRequest } from '../types.js';
import { consumerHeaderOptions } from './auth.js';
import { bool, integer, nonEmptyString, secret } from './common.js';
import { duration, MAX_TIMER_MS } from './duration.js';
import { codeOnly, withMeta } from './meta.js';
import { fail, type Parsed, parseOptions, STANDALONE } from './parse.js';

/**
 * What a rewrite function receives: the normalised relative path, the matched params, the request.
 *
 * @example
 * const rewrite = ({ params }: RewriteContext) => `/v2/${String(params.id)}`;
 */
export interface RewriteContext {
  path: string;
  params: Record<string, unknown>;
  req: GatewayRequest;
}

/**
 * A path-to-regexp template compiled with the matched params (`'/{*path}'`) or a function
 * returning the new path. Default: none (the relative path is forwarded unchanged).
 *
 * @example
 * const rewrite: RouteRewrite = '/{*path}';
 */
export type RouteRewrite = string | ((ctx: RewriteContext) => string);

// ---------------------------------------------------------------------------------------------
// target

const TARGET_EXAMPLE = "e.g. 'http://localhost:8081'";

/** Why a target URL is refused, or `null`. Never quotes the URL: it may carry credentials. */
function targetUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be an http(s) URL, ${TARGET_EXAMPLE}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `must be an http(s) URL, ${TARGET_EXAMPLE}`;
  }
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
    return `must not carry a query string or fragment, ${TARGET_EXAMPLE}`;
  }
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    return `has credentials that are not valid percent-encoding, ${TARGET_EXAMPLE}`;
  }
  return null;
}

const targetUrl = z
  .string({ error: `must be an http(s) URL, ${TARGET_EXAMPLE}` })
  .check((ctx) => {
    const problem = targetUrlProblem(ctx.value);
    if (problem !== null) fail(ctx, problem);
  })
  .transform((value) => new URL(value));

const weightedTarget = z.strictObject({
  /** An `http://` or `https://` base URL; a path in it prefixes every forwarded path. */
  url: targetUrl,
  /** Relative share of the requests, an integer from 1 to 1000. Default `1`. */
  weight: withMeta(integer(1, 1000), { code: 'ERR_CONFIG_INVALID_OPTION' }).default(1),
});

/**
 * One upstream with a weight for weighted round robin (`weight` default 1).
 *
 * @example
 * const target: WeightedTarget = { url: 'http://10.0.0.1:8080', weight: 3 };
 */
export type WeightedTarget = z.input<typeof weightedTarget>;

/**
 * A target URL validated and parsed once (internal).
 *
 * @example
 * const t: ResolvedTarget = { url: new URL('http://a:1'), weight: 1 };
 */
export interface ResolvedTarget {
  url: URL;
  weight: number;
}

const TARGET_REQUIRED =
  "is required: an http(s) URL such as 'http://localhost:8081', or an array of them";

const routeTarget = withMeta(
  z
    .union(
      [
        targetUrl,
        z
          .array(
            z.union([targetUrl, weightedTarget], {
              error: `must be an http(s) URL or { url, weight }, e.g. { url: 'http://localhost:8081', weight: 2 }`,
            }),
          )
          .min(1, { error: 'must list at least one target' }),
      ],
      {
        error: (issue) =>
          issue.input === undefined
            ? TARGET_REQUIRED
            : "must be an http(s) URL such as 'http://localhost:8081', or an array of them",
      },
    )
    .transform((value): ResolvedTarget[] =>
      (Array.isArray(value) ? value : [value]).map((entry) =>
        entry instanceof URL ? { url: entry, weight: 1 } : entry,
      ),
    ),
  { code: 'ERR_CONFIG_INVALID_TARGET' },
);

/**
 * One upstream URL, several (equal weights), or several with weights. Required; no default.
 *
 * @example
 * const target: RouteTarget = ['http://a:8080', { url: 'http://b:8080', weight: 2 }];
 */
export type RouteTarget = z.input<typeof routeTarget>;

// ---------------------------------------------------------------------------------------------
// headers

/**
 * Headers that may not be set by `headers.*.set`: connection management and framing belong to
 * Node; `Expect` too (Node already answered the client's `100-continue`, and a request sent
 * upstream with it would wait for one; httpxy also skips its `proxyReq` event for it).
 */
const UNSETTABLE = new Set([...CONNECTION_HEADERS, 'content-length', 'expect']);

function isHeaderName(name: string): boolean {
  try {
    validateHeaderName(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Header rules with names lower-cased, values validated (internal).
 *
 * @example
 * const rules: ResolvedHeaderRules = { set: [['x-a', '1']], remove: new Set(['x-b']) };
 */
export interface ResolvedHeaderRules {
  set: ReadonlyArray<readonly [name: string, value: string]>;
  remove: ReadonlySet<string>;
}

const NO_RULES: ResolvedHeaderRules = Object.freeze({ set: [], remove: new Set<string>() });

const headerRules = z
  .strictObject({
    set: z
      .record(z.string(), z.string({ error: 'must be a string' }), {
        error: 'must be an object of header names to values',
      })
      .check((ctx) => {
        for (const [name, value] of Object.entries(ctx.value)) {
          if (!isHeaderName(name)) {
            fail(ctx, 'must be a valid header name', { path: [name] });
          } else if (UNSETTABLE.has(name.toLowerCase())) {
            fail(
              ctx,
              'is managed by the gateway and Node (framing, connection) and cannot be set',
              {
                path: [name],
              },
            );
          } else {
            try {
              validateHeaderValue(name, value);
            } catch {
              fail(ctx, 'must be a valid header value (no CR, LF or NUL)', { path: [name] });
            }
          }
        }
      })
      .optional(),
    remove: z
      .array(
        nonEmptyString().check((ctx) => {
          if (!isHeaderName(ctx.value)) fail(ctx, 'must be a valid header name');
        }),
        { error: "must be an array of header names, e.g. ['x-powered-by']" },
      )
      .optional(),
  })
  .transform(
    (rules): ResolvedHeaderRules => ({
      set: Object.entries(rules.set ?? {}).map(
        ([name, value]) => [name.toLowerCase(), value] as const,
      ),
      remove: new Set((rules.remove ?? []).map((name) => name.toLowerCase())),
    }),
  );

/**
 * Headers to set (name → value) and to remove (names) in one direction. Default: none.
 *
 * @example
 * const rules: HeaderRules = { set: { 'X-Gateway': 'portcullis' }, remove: ['X-Powered-By'] };
 */
export type HeaderRules = z.input<typeof headerRules>;

// ---------------------------------------------------------------------------------------------
// proxy (http-proxy-middleware pass-through)

/** http-proxy-middleware options the route covers itself, and what to use instead. */
const PROXY_REFUSED: Record<string, string> = {
  target: 'use the route option `target`',
  router: 'use the route option `target` (several targets are balanced)',
  forward: 'not supported by portcullis',
  pathFilter: 'use the route options `path`, `methods` and `host`',
  pathRewrite: 'use the route option `rewrite`',
  changeOrigin: 'use the route option `preserveHost` (the target Host is the default)',
  headers: 'use the route option `headers.request.set`',
  xfwd: 'X-Forwarded-* are always set by the gateway',
  ws: 'use the route option `websocket` with `handleUpgrades(server, app)`',
  timeout: 'use the route option `timeout`',
  proxyTimeout: 'use the route option `timeout`',
  prependPath: 'the target URL path is always prepended',
  ignorePath: 'use the route option `rewrite`',
  toProxy: 'not supported by portcullis',
  followRedirects: 'the gateway passes redirects to the client',
  buffer: 'request bodies are streamed by the gateway',
  method: 'not supported by portcullis',
  ejectPlugins:
    "http-proxy-middleware's default plugins are always ejected (the library is silent)",
  logger: 'the library is silent: use `onEvent` or `proxy.on`',
  upgradeTimeout: 'use the route option `timeout` (it runs until the upstream’s 101)',
  http2: 'an option of httpxy’s own server, not of a proxied request',
};

type ProxyEvents = NonNullable<HpmOptions['on']>;

const proxyListener = <K extends keyof ProxyEvents>() =>
  codeOnly<NonNullable<ProxyEvents[K]>>().optional();

const cookieRewrite = z
  .union([z.literal(false), z.string(), z.record(z.string(), z.string())], {
    error: 'must be false, a string or an object of old to new values',
  })
  .optional();

const routeProxyOptions = withMeta(
  z.strictObject({
    /** Verify the target's TLS certificate. Default `true`. */
    secure: bool().optional(),
    /** TLS options for https targets (`ca`, `cert`, `key`, …). */
    ssl: z
      .record(z.string(), z.unknown(), { error: 'must be an object' })
      .transform((ssl) => ({ ...ssl }))
      .optional(),
    /** Local interface to bind for outgoing connections. */
    localAddress: nonEmptyString().optional(),
    /** Basic authentication `'user:password'` for the target. */
    auth: secret(nonEmptyString()).optional(),
    /** Your own `http(s).Agent` (portcullis then opens no agent of its own for the route). */
    agent: codeOnly<HpmOptions['agent']>(
      'must be an http(s).Agent',
      (value) => value !== null && typeof value === 'object',
    ).optional(),
    /** Keep the letter case of response header names. */
    preserveHeaderKeyCase: bool().optional(),
    /** Rewrites the host of redirect `Location`s. */
    hostRewrite: nonEmptyString().optional(),
    /** Rewrites the host and port of redirect `Location`s to the request's. */
    autoRewrite: bool().optional(),
    /** Rewrites the protocol of redirect `Location`s (`'http'` or `'https'`). */
    protocolRewrite: nonEmptyString().optional(),
    /** Rewrites the domain of `Set-Cookie` headers. */
    cookieDomainRewrite: cookieRewrite,
    /** Rewrites the path of `Set-Cookie` headers. */
    cookiePathRewrite: cookieRewrite,
    /** You answer from `on.proxyRes` yourself. */
    selfHandleResponse: bool().optional(),
    /** http-proxy-middleware plugins. */
    plugins: codeOnly<NonNullable<HpmOptions['plugins']>>(
      'must be an array of functions',
      (value) => Array.isArray(value) && value.every((plugin) => typeof plugin === 'function'),
    ).optional(),
    /** httpxy event listeners, as in http-proxy-middleware's `on` (except `error`: errors are the gateway's). */
    on: withMeta(
      z.strictObject({
        proxyReq: proxyListener<'proxyReq'>(),
        proxyReqWs: proxyListener<'proxyReqWs'>(),
        proxyRes: proxyListener<'proxyRes'>(),
        open: proxyListener<'open'>(),
        close: proxyListener<'close'>(),
        start: proxyListener<'start'>(),
        end: proxyListener<'end'>(),
        econnreset: proxyListener<'econnreset'>(),
      }),
      {
        codeOnly: true,
        refusedKeys: { error: 'errors are answered by the gateway: use `onEvent` (proxy.error)' },
      },
    ).optional(),
  }),
  {
    refusedKeys: Object.fromEntries(
      Object.entries(PROXY_REFUSED).map(([key, why]) => [key, `is not accepted here: ${why}`]),
    ),
  },
);

/**
 * The http-proxy-middleware 4 options a route passes through, for what the
 * route options themselves lack (cookie and redirect rewriting, TLS, event
 * hooks, plugins, your own agent). Options that the route already covers are
 * refused with a pointer to the route option (`target`, `rewrite`, `timeout`, …).
 * A route with any of them but `agent` forwards through http-proxy-middleware;
 * without (default `{}`), through portcullis' own forwarder.
 *
 * @example
 * const proxy: RouteProxyOptions = { cookieDomainRewrite: 'example.com', on: { proxyRes: (res) => {} } };
 */
export type RouteProxyOptions = z.output<typeof routeProxyOptions>;

// ---------------------------------------------------------------------------------------------
// route()

const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const METHODS_MESSAGE = "must be a non-empty array of methods, e.g. ['GET', 'POST']";

const routePath = withMeta(
  z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? "is required, e.g. '/users{/*path}'"
          : "must be a non-empty path pattern, e.g. '/users/:id' or '/public{/*path}'",
    })
    .check((ctx) => {
      const problem = checkRoutePattern(ctx.value);
      if (problem !== null) fail(ctx, problem.message, { code: problem.code });
    }),
  { code: 'ERR_CONFIG_INVALID_PATH' },
);

/**
 * The options every route has, standalone or in a gateway (no `onEvent`: a gateway has its
 * own). `route()` adds `onEvent`, the gateway schema `auth` and `rateLimit`.
 *
 * @example
 * z.strictObject({ ...routeShape, auth: routeAuth }).check(checkRouteOptions);
 */
export const routeShape = {
  /** Shown in events and on `req.gateway.route.name`. Default: none. */
  name: nonEmptyString().optional(),
  /** path-to-regexp 8 pattern, matched against the normalised path relative to the mount point. */
  path: routePath,
  /** Allowed methods (case-insensitive; `GET` implies `HEAD`). Default: every method. */
  methods: z
    .array(
      nonEmptyString()
        .regex(HTTP_TOKEN, { error: 'must be an HTTP method name' })
        .check((ctx) => {
          if (ctx.value.toUpperCase() === 'CONNECT') {
            fail(ctx, 'CONNECT is never forwarded by the gateway');
          }
        }),
      { error: METHODS_MESSAGE },
    )
    .min(1, { error: METHODS_MESSAGE })
    .optional(),
  /** Exact host or `'*.example.com'`, case-insensitive, port and trailing dot ignored. Default: any host. */
  host: z
    .string({ error: "must be a non-empty host name, e.g. 'api.example.com'" })
    .check((ctx) => {
      const problem = configuredHostProblem(ctx.value);
      if (problem !== null) fail(ctx, problem);
    })
    .optional(),
  /** Where to forward: one URL, several (round robin), or `{ url, weight }` entries. */
  target: routeTarget,
  /** Rewrites the forwarded path; the query string is always kept. Default: the relative path unchanged. */
  rewrite: withMeta(
    z.union([z.string(), codeOnly<(ctx: RewriteContext) => string>()], {
      error:
        "must be a path template starting with '/' (e.g. '/{*path}') or a function ({ path, params, req }) => string",
    }),
    { code: 'ERR_CONFIG_INVALID_PATH' },
  ).optional(),
  /**
   * Whether `path` matches case-sensitively. Default `false`, as Express routes:
   * a protected `/admin` also covers `/ADMIN` and `/%41dmin`, which an Express
   * upstream serves as `/admin`. Params keep the path's own case.
   */
  caseSensitive: bool().default(false),
  /**
   * Upstream inactivity limit, default `'30s'`: no response headers within it
   * after the request was sent → 504; a response body that stalls for it → the
   * client connection is cut.
   */
  timeout: duration({ maxMs: MAX_TIMER_MS, maxText: '24 days' }).prefault('30s'),
  /** Limit for establishing the TCP (and TLS) connection to a target. Default `'5s'` → 502. */
  connectTimeout: duration({ maxMs: MAX_TIMER_MS, maxText: '24 days' }).prefault('5s'),
  /** Further targets tried after a connection failure, for idempotent methods only. Default `0`. */
  retries: integer(0, 10).default(0),
  /** Forward the client's `Host` instead of the target's. Default `false`. */
  preserveHost: bool().default(false),
  /** Tunnel WebSocket upgrades that reach this route (see `handleUpgrades`). Default `false`. */
  websocket: bool().default(false),
  /** Headers set/removed on the upstream request and on the response to the client. */
  headers: z
    .strictObject({ request: headerRules.optional(), response: headerRules.optional() })
    .optional(),
  /** Passed through to http-proxy-middleware (see {@link RouteProxyOptions}). */
  proxy: routeProxyOptions.optional(),
  /**
   * The consumer header names, as `authenticate()`'s `consumerHeaders`: client-sent copies
   * are removed unless an `authenticate()` earlier in the chain set them (a principal is on
   * `req.gateway`). Default `x-consumer-id`, `x-consumer-scopes`, `x-consumer-type`. In
   * `createGateway` the routes use `auth.consumerHeaders` instead.
   */
  consumerHeaders: consumerHeaderOptions.optional(),
};

type RouteShapeOutput = z.output<z.ZodObject<typeof routeShape>>;

/**
 * Checks a route across its options: the rewrite template against the path.
 *
 * @example
 * z.strictObject({ ...routeShape }).check(checkRouteOptions);
 */
export function checkRouteOptions(ctx: z.core.ParsePayload<RouteShapeOutput>): void {
  // Non-aborting problems (a string's format) leave the path unchecked: judge it alone first.
  if (ctx.issues.length > 0) return;
  const { rewrite, path } = ctx.value;
  if (typeof rewrite !== 'string') return;
  const problem = checkRewriteTemplate(rewrite, path);
  if (problem !== null) fail(ctx, problem, { path: ['rewrite'] });
}

/**
 * RouteOptions with every default applied and every value checked (internal).
 *
 * @example
 * const resolved: ResolvedRouteOptions = parseRouteOptions({ path: '/x', target: 'http://a' }).value;
 */
export interface ResolvedRouteOptions {
  name: string | undefined;
  path: string;
  methods: readonly string[] | null;
  host: string | undefined;
  targets: readonly ResolvedTarget[];
  rewrite: RouteRewrite | undefined;
  caseSensitive: boolean;
  timeoutMs: number;
  connectTimeoutMs: number;
  retries: number;
  preserveHost: boolean;
  websocket: boolean;
  requestHeaders: ResolvedHeaderRules;
  responseHeaders: ResolvedHeaderRules;
  proxy: RouteProxyOptions;
  /** `undefined` when not given (the gateway's auth names, else the defaults, apply). */
  consumerHeaders: ConsumerHeaderNames | undefined;
  onEvent: GatewayEventListener | undefined;
}

/**
 * Resolves a route's options (shared by `route()` and the gateway's routes).
 *
 * @example
 * resolveRoute(parsedShape);
 */
export function resolveRoute(
  options: RouteShapeOutput & { onEvent?: GatewayEventListener | undefined },
): ResolvedRouteOptions {
  let methods: string[] | null = null;
  if (options.methods !== undefined) {
    methods = [];
    for (const method of options.methods) {
      const upper = method.toUpperCase();
      if (!methods.includes(upper)) methods.push(upper);
    }
    // As in Express, a route that answers GET also answers HEAD.
    if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
  }
  return {
    name: options.name,
    path: options.path,
    methods,
    host: options.host,
    targets: options.target,
    rewrite: options.rewrite,
    caseSensitive: options.caseSensitive,
    timeoutMs: options.timeout,
    connectTimeoutMs: options.connectTimeout,
    retries: options.retries,
    preserveHost: options.preserveHost,
    websocket: options.websocket,
    requestHeaders: options.headers?.request ?? NO_RULES,
    responseHeaders: options.headers?.response ?? NO_RULES,
    proxy: options.proxy ?? {},
    consumerHeaders: options.consumerHeaders,
    onEvent: options.onEvent,
  };
}

/**
 * The options of standalone `route()`, with its `onEvent`.
 *
 * @example
 * parseRouteOptions({ path: '/x', target: 'http://a' }).value.timeoutMs; // 30_000
 */
export const routeOptions = z
  .strictObject({
    ...routeShape,
    /** Event listener for a standalone `route()`: `proxy.*` and `request.completed` (the gateway uses its own `onEvent`). */
    onEvent: codeOnly<GatewayEventListener>().optional(),
  })
  .check(checkRouteOptions)
  .transform(resolveRoute);

/**
 * Options of `route()` and of each entry of `createGateway({ routes })`. `path` and `target`
 * are required; see each option for its default.
 *
 * @example
 * route({
 *   path: '/users{/*path}',
 *   target: [{ url: 'http://10.0.0.1:8080', weight: 3 }, { url: 'http://10.0.0.2:8080' }],
 *   rewrite: '/{*path}',
 *   timeout: '10s',
 *   retries: 1,
 * });
 */
export type RouteOptions = z.input<typeof routeOptions>;

/**
 * Parses standalone `route()` options (paths without a prefix): resolved options and
 * warnings, or `GatewayConfigError`.
 *
 * @example
 * const { value } = parseRouteOptions({ path: '/users/:id', target: 'http://users:8080' });
 */
export function parseRouteOptions(input: unknown): Parsed<ResolvedRouteOptions> {
  return parseOptions(routeOptions, input, STANDALONE);
}
