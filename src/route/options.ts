import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { Options as HpmOptions } from 'http-proxy-middleware';
import type { ConsumerHeaderNames } from '../auth/consumer-headers.js';
import { type ConsumerHeaderOptions, resolveConsumerHeaders } from '../auth/options.js';
import { type Duration, parseDuration } from '../duration.js';
import { GatewayConfigError } from '../errors.js';
import {
  expectBoolean,
  expectFunction,
  expectInteger,
  expectObject,
  expectString,
  fieldPath,
  isPlainObject,
  rejectUnknownKeys,
} from '../options.js';
import type { GatewayEventListener, GatewayRequest } from '../types.js';

/**
 * One upstream with a weight for weighted round robin (`weight` default 1).
 *
 * @example
 * const target: WeightedTarget = { url: 'http://10.0.0.1:8080', weight: 3 };
 */
export interface WeightedTarget {
  /** An `http://` or `https://` base URL; a path in it prefixes every forwarded path. */
  url: string;
  /** Relative share of the requests, an integer from 1 to 1000. Default `1`. */
  weight?: number;
}

/**
 * One upstream URL, several (equal weights), or several with weights. Required; no default.
 *
 * @example
 * const target: RouteTarget = ['http://a:8080', { url: 'http://b:8080', weight: 2 }];
 */
export type RouteTarget = string | Array<string | WeightedTarget>;

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

/**
 * Headers to set (name → value) and to remove (names) in one direction. Default: none.
 *
 * @example
 * const rules: HeaderRules = { set: { 'X-Gateway': 'portcullis' }, remove: ['X-Powered-By'] };
 */
export interface HeaderRules {
  set?: Record<string, string>;
  remove?: string[];
}

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
export type RouteProxyOptions = Pick<
  HpmOptions,
  | 'secure'
  | 'ssl'
  | 'localAddress'
  | 'auth'
  | 'agent'
  | 'preserveHeaderKeyCase'
  | 'hostRewrite'
  | 'autoRewrite'
  | 'protocolRewrite'
  | 'cookieDomainRewrite'
  | 'cookiePathRewrite'
  | 'selfHandleResponse'
  | 'plugins'
> & {
  /** httpxy event listeners, as in http-proxy-middleware's `on` (except `error`: errors are the gateway's). */
  on?: Omit<NonNullable<HpmOptions['on']>, 'error'>;
};

/**
 * Options of `route()` and of each entry of `createGateway({ routes })`.
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
export interface RouteOptions {
  /** Shown in events and on `req.gateway.route.name`. Default: none. */
  name?: string;
  /** path-to-regexp 8 pattern, matched against the normalised path relative to the mount point. */
  path: string;
  /** Allowed methods (case-insensitive; `GET` implies `HEAD`). Default: every method. */
  methods?: string[];
  /** Exact host or `'*.example.com'`, case-insensitive, port and trailing dot ignored. Default: any host. */
  host?: string;
  /** Where to forward: one URL, several (round robin), or `{ url, weight }` entries. */
  target: RouteTarget;
  /** Rewrites the forwarded path; the query string is always kept. Default: the relative path unchanged. */
  rewrite?: RouteRewrite;
  /**
   * Whether `path` matches case-sensitively. Default `false`, as Express routes:
   * a protected `/admin` also covers `/ADMIN` and `/%41dmin`, which an Express
   * upstream serves as `/admin`. Params keep the path's own case.
   */
  caseSensitive?: boolean;
  /**
   * Upstream inactivity limit, default `'30s'`: no response headers within it
   * after the request was sent → 504; a response body that stalls for it → the
   * client connection is cut.
   */
  timeout?: Duration;
  /** Limit for establishing the TCP (and TLS) connection to a target. Default `'5s'` → 502. */
  connectTimeout?: Duration;
  /** Further targets tried after a connection failure, for idempotent methods only. Default `0`. */
  retries?: number;
  /** Forward the client's `Host` instead of the target's. Default `false`. */
  preserveHost?: boolean;
  /** Tunnel WebSocket upgrades that reach this route (see `handleUpgrades`). Default `false`. */
  websocket?: boolean;
  /** Headers set/removed on the upstream request and on the response to the client. */
  headers?: { request?: HeaderRules; response?: HeaderRules };
  /** Passed through to http-proxy-middleware (see {@link RouteProxyOptions}). */
  proxy?: RouteProxyOptions;
  /**
   * The consumer header names, as `authenticate()`'s `consumerHeaders`: client-sent copies
   * are removed unless an `authenticate()` earlier in the chain set them (a principal is on
   * `req.gateway`). Default `x-consumer-id`, `x-consumer-scopes`, `x-consumer-type`. In
   * `createGateway` the routes use `auth.consumerHeaders` instead.
   */
  consumerHeaders?: ConsumerHeaderOptions;
  /** Event listener for a standalone `route()`: `proxy.*` and `request.completed` (the gateway uses its own `onEvent`). */
  onEvent?: GatewayEventListener;
}

/**
 * A target URL validated and parsed once (internal).
 *
 * @example
 * const t: ResolvedTarget = { url: new URL('http://a:1'), weight: 1, field: 'target' };
 */
export interface ResolvedTarget {
  url: URL;
  weight: number;
  /** The `target` field path of this entry, for messages. */
  field: string;
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

/**
 * RouteOptions with every default applied and every value checked (internal).
 *
 * @example
 * const resolved: ResolvedRouteOptions = resolveRouteOptions({ path: '/x', target: 'http://a' }, '', true);
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

const ROUTE_KEYS = [
  'name',
  'path',
  'methods',
  'host',
  'target',
  'rewrite',
  'caseSensitive',
  'timeout',
  'connectTimeout',
  'retries',
  'preserveHost',
  'websocket',
  'headers',
  'proxy',
  'consumerHeaders',
] as const;

/** Passed through to http-proxy-middleware as they are. */
const PROXY_PASSTHROUGH = [
  'secure',
  'ssl',
  'localAddress',
  'auth',
  'agent',
  'preserveHeaderKeyCase',
  'hostRewrite',
  'autoRewrite',
  'protocolRewrite',
  'cookieDomainRewrite',
  'cookiePathRewrite',
  'selfHandleResponse',
  'plugins',
  'on',
] as const;

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

const PROXY_EVENTS = [
  'proxyReq',
  'proxyReqWs',
  'proxyRes',
  'open',
  'close',
  'start',
  'end',
  'econnreset',
] as const;

/**
 * Headers that may not be set by `headers.*.set`: connection management and framing belong to
 * Node; `Expect` too (Node already answered the client's `100-continue`, and a request sent
 * upstream with it would wait for one; httpxy also skips its `proxyReq` event for it).
 */
const UNSETTABLE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'expect',
]);

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_WEIGHT = 1000;
const MAX_RETRIES = 10;

/**
 * Validates route options once, at construction, and applies the defaults.
 * `field` is the path prefix of messages (`'routes[1]'` in the gateway, `''`
 * standalone). Path, host and rewrite syntax are checked by their compilers.
 * `allowOnEvent` is true for a standalone `route()` only.
 *
 * @example
 * resolveRouteOptions({ path: '/x', target: 'ftp://a' }, 'routes[1]', false);
 * // throws GatewayConfigError: routes[1].target: must be an http(s) URL, e.g. 'http://localhost:8081'
 */
export function resolveRouteOptions(
  input: unknown,
  field: string,
  allowOnEvent: boolean,
): ResolvedRouteOptions {
  const options = expectObject(input, field || 'options');
  rejectUnknownKeys(options, allowOnEvent ? [...ROUTE_KEYS, 'onEvent'] : ROUTE_KEYS, field);
  const at = (key: string): string => fieldPath(field, key);

  const name = options.name === undefined ? undefined : expectString(options.name, at('name'));
  if (options.path === undefined) {
    throw new GatewayConfigError(
      at('path'),
      "is required, e.g. '/users{/*path}'",
      'ERR_CONFIG_INVALID_PATH',
    );
  }
  const path = expectString(options.path, at('path'));
  const host = options.host === undefined ? undefined : expectString(options.host, at('host'));

  let rewrite: RouteRewrite | undefined;
  if (options.rewrite !== undefined) {
    rewrite =
      typeof options.rewrite === 'function'
        ? expectFunction<(ctx: RewriteContext) => string>(options.rewrite, at('rewrite'))
        : expectString(options.rewrite, at('rewrite'));
  }

  const headers = options.headers === undefined ? {} : expectObject(options.headers, at('headers'));
  rejectUnknownKeys(headers, ['request', 'response'], at('headers'));

  return {
    name,
    path,
    methods: resolveMethods(options.methods, at('methods')),
    host,
    targets: resolveTargets(options.target, at('target')),
    rewrite,
    caseSensitive: optionalBoolean(options.caseSensitive, false, at('caseSensitive')),
    timeoutMs: timerDuration(options.timeout ?? '30s', at('timeout')),
    connectTimeoutMs: timerDuration(options.connectTimeout ?? '5s', at('connectTimeout')),
    retries:
      options.retries === undefined
        ? 0
        : expectInteger(options.retries, at('retries'), 0, MAX_RETRIES),
    preserveHost: optionalBoolean(options.preserveHost, false, at('preserveHost')),
    websocket: optionalBoolean(options.websocket, false, at('websocket')),
    requestHeaders: resolveHeaderRules(headers.request, at('headers.request')),
    responseHeaders: resolveHeaderRules(headers.response, at('headers.response')),
    proxy: resolveProxyOptions(options.proxy, at('proxy')),
    consumerHeaders:
      options.consumerHeaders === undefined
        ? undefined
        : resolveConsumerHeaders(options.consumerHeaders, at('consumerHeaders')),
    onEvent:
      options.onEvent === undefined
        ? undefined
        : expectFunction<GatewayEventListener>(options.onEvent, at('onEvent')),
  };
}

function optionalBoolean(value: unknown, fallback: boolean, field: string): boolean {
  return value === undefined ? fallback : expectBoolean(value, field);
}

function resolveMethods(value: unknown, field: string): readonly string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || value.length === 0) {
    throw new GatewayConfigError(
      field,
      "must be a non-empty array of methods, e.g. ['GET', 'POST']",
    );
  }
  const methods: string[] = [];
  value.forEach((item, i) => {
    const method = expectString(item, `${field}[${i}]`);
    if (!TOKEN.test(method))
      throw new GatewayConfigError(`${field}[${i}]`, 'must be an HTTP method name');
    const upper = method.toUpperCase();
    if (upper === 'CONNECT') {
      throw new GatewayConfigError(`${field}[${i}]`, 'CONNECT is never forwarded by the gateway');
    }
    if (!methods.includes(upper)) methods.push(upper);
  });
  // As in Express, a route that answers GET also answers HEAD.
  if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
  return methods;
}

function resolveTargets(value: unknown, field: string): ResolvedTarget[] {
  if (value === undefined) {
    throw new GatewayConfigError(
      field,
      "is required: an http(s) URL such as 'http://localhost:8081', or an array of them",
      'ERR_CONFIG_INVALID_TARGET',
    );
  }
  if (!Array.isArray(value)) return [resolveTarget(value, field)];
  if (value.length === 0) {
    throw new GatewayConfigError(
      field,
      'must list at least one target',
      'ERR_CONFIG_INVALID_TARGET',
    );
  }
  return value.map((item, i) => resolveTarget(item, `${field}[${i}]`));
}

function resolveTarget(value: unknown, field: string): ResolvedTarget {
  if (typeof value === 'string') return { url: parseTargetUrl(value, field), weight: 1, field };
  if (!isPlainObject(value)) {
    throw new GatewayConfigError(
      field,
      "must be an http(s) URL or { url, weight }, e.g. { url: 'http://localhost:8081', weight: 2 }",
      'ERR_CONFIG_INVALID_TARGET',
    );
  }
  rejectUnknownKeys(value, ['url', 'weight'], field);
  const url = parseTargetUrl(value.url, `${field}.url`);
  const weight =
    value.weight === undefined ? 1 : expectInteger(value.weight, `${field}.weight`, 1, MAX_WEIGHT);
  return { url, weight, field };
}

function parseTargetUrl(value: unknown, field: string): URL {
  const bad = (problem: string): GatewayConfigError =>
    new GatewayConfigError(
      field,
      `${problem}, e.g. 'http://localhost:8081'`,
      'ERR_CONFIG_INVALID_TARGET',
    );
  if (typeof value !== 'string' || value.length === 0) throw bad('must be an http(s) URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad('must be an http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('must be an http(s) URL');
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
    throw bad('must not carry a query string or fragment');
  }
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw bad('has credentials that are not valid percent-encoding');
  }
  return url;
}

function resolveHeaderRules(value: unknown, field: string): ResolvedHeaderRules {
  if (value === undefined) return { set: [], remove: new Set() };
  const rules = expectObject(value, field);
  rejectUnknownKeys(rules, ['set', 'remove'], field);
  const set: Array<readonly [string, string]> = [];
  if (rules.set !== undefined) {
    const entries = expectObject(rules.set, `${field}.set`);
    for (const [name, headerValue] of Object.entries(entries)) {
      const at = `${field}.set.${name}`;
      checkHeaderName(name, at);
      const lower = name.toLowerCase();
      if (UNSETTABLE.has(lower)) {
        throw new GatewayConfigError(
          at,
          'is managed by the gateway and Node (framing, connection) and cannot be set',
        );
      }
      if (typeof headerValue !== 'string') throw new GatewayConfigError(at, 'must be a string');
      try {
        validateHeaderValue(name, headerValue);
      } catch {
        throw new GatewayConfigError(at, 'must be a valid header value (no CR, LF or NUL)');
      }
      set.push([lower, headerValue]);
    }
  }
  const remove = new Set<string>();
  if (rules.remove !== undefined) {
    if (!Array.isArray(rules.remove)) {
      throw new GatewayConfigError(
        `${field}.remove`,
        "must be an array of header names, e.g. ['x-powered-by']",
      );
    }
    rules.remove.forEach((name, i) => {
      const at = `${field}.remove[${i}]`;
      checkHeaderName(expectString(name, at), at);
      remove.add((name as string).toLowerCase());
    });
  }
  return { set, remove };
}

function checkHeaderName(name: string, field: string): void {
  try {
    validateHeaderName(name);
  } catch {
    throw new GatewayConfigError(field, 'must be a valid header name');
  }
}

function resolveProxyOptions(value: unknown, field: string): RouteProxyOptions {
  if (value === undefined) return {};
  const proxy = expectObject(value, field);
  const resolved: Record<string, unknown> = {};
  for (const key of Object.keys(proxy)) {
    const at = `${field}.${key}`;
    const refusal = PROXY_REFUSED[key];
    if (refusal !== undefined) throw new GatewayConfigError(at, `is not accepted here: ${refusal}`);
    if (!(PROXY_PASSTHROUGH as readonly string[]).includes(key)) {
      throw new GatewayConfigError(
        at,
        `unknown option (passed through: ${PROXY_PASSTHROUGH.join(', ')})`,
      );
    }
    resolved[key] = proxy[key];
  }
  if (proxy.plugins !== undefined) {
    if (!Array.isArray(proxy.plugins))
      throw new GatewayConfigError(`${field}.plugins`, 'must be an array of functions');
    proxy.plugins.forEach((plugin, i) => {
      expectFunction(plugin, `${field}.plugins[${i}]`);
    });
  }
  if (proxy.on !== undefined) {
    const on = expectObject(proxy.on, `${field}.on`);
    for (const [event, listener] of Object.entries(on)) {
      if (event === 'error') {
        throw new GatewayConfigError(
          `${field}.on.error`,
          'errors are answered by the gateway: use `onEvent` (proxy.error)',
        );
      }
      if (!(PROXY_EVENTS as readonly string[]).includes(event)) {
        throw new GatewayConfigError(
          `${field}.on.${event}`,
          `unknown event (known: ${PROXY_EVENTS.join(', ')})`,
        );
      }
      expectFunction(listener, `${field}.on.${event}`);
    }
  }
  for (const key of [
    'secure',
    'preserveHeaderKeyCase',
    'autoRewrite',
    'selfHandleResponse',
  ] as const) {
    if (proxy[key] !== undefined) expectBoolean(proxy[key], `${field}.${key}`);
  }
  for (const key of ['localAddress', 'auth', 'hostRewrite', 'protocolRewrite'] as const) {
    if (proxy[key] !== undefined) expectString(proxy[key], `${field}.${key}`);
  }
  if (proxy.ssl !== undefined) resolved.ssl = { ...expectObject(proxy.ssl, `${field}.ssl`) };
  if (proxy.agent !== undefined && (proxy.agent === null || typeof proxy.agent !== 'object')) {
    throw new GatewayConfigError(`${field}.agent`, 'must be an http(s).Agent');
  }
  return resolved as RouteProxyOptions;
}

/** The longest delay Node's timers keep (2^31 - 1 ms); a longer one would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** A duration that runs as a timer: positive and at most about 24 days. */
function timerDuration(value: unknown, field: string): number {
  const ms = parseDuration(value, field);
  if (ms > MAX_TIMER_MS) {
    throw new GatewayConfigError(field, 'must be at most 24 days', 'ERR_CONFIG_INVALID_DURATION');
  }
  return ms;
}
