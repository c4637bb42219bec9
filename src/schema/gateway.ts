import * as z from 'zod';
import type { ErrorResponder } from '../problem.js';
import type { GatewayEventListener } from '../types.js';
import {
  type AuthOptions,
  type AuthRequirement,
  gatewayAuthOptions,
  type ResolvedAuthOptions,
} from './auth.js';
import { bool, scopeList } from './common.js';
import { codeOnly, withMeta } from './meta.js';
import { type ConfigWarning, fail, parseOptions } from './parse.js';
import { type ResolvedRateLimitOptions, rateLimitOptions } from './rate-limit.js';
import { checkRouteOptions, type ResolvedRouteOptions, resolveRoute, routeShape } from './route.js';
import { rateLimitStore } from './stores.js';

/** `false`, or rate limit options. */
const rateLimitOrFalse = z.union([z.literal(false), rateLimitOptions], {
  error: 'must be rate limit options or false',
});

const routeAuth = z.union(
  [z.boolean(), z.literal('optional'), z.strictObject({ scopes: scopeList() })],
  {
    error: "must be true, false, 'optional' or { scopes: [...] }",
  },
);

/**
 * Per-route authentication in `createGateway`: on (default when `auth` is set), off, optional, or with scopes.
 *
 * @example
 * const auth: RouteAuth = { scopes: ['orders:read'] };
 */
export type RouteAuth = z.input<typeof routeAuth>;

const gatewayRoute = withMeta(
  z.strictObject({
    ...routeShape,
    /** Default: `true` when the gateway has `auth`, else `false`. */
    auth: routeAuth.optional(),
    /** `false` disables limiting for this route; an object replaces the gateway's default policy. */
    rateLimit: rateLimitOrFalse.optional(),
  }),
  { refusedKeys: { onEvent: 'is for standalone route(); pass onEvent to createGateway instead' } },
).check(checkRouteOptions);

/**
 * A route of the gateway: `route()`'s options (but `onEvent`) plus per-route auth and rate limit overrides.
 *
 * @example
 * const orders: GatewayRouteOptions = { path: '/orders{/*path}', target: 'http://orders:8080', auth: { scopes: ['orders'] } };
 */
export type GatewayRouteOptions = z.input<typeof gatewayRoute>;

/**
 * A gateway route resolved: its route options, what it requires of authentication (`null`: no
 * authentication step) and its rate limit (`undefined`: the gateway's default; `false`: none).
 *
 * @example
 * const route: ResolvedGatewayRoute = parseGatewayConfig(config).routes[0];
 */
export type ResolvedGatewayRoute = ResolvedRouteOptions & {
  auth: AuthRequirement | null;
  rateLimit: ResolvedRateLimitOptions | false | undefined;
};

/**
 * `createGateway`'s configuration resolved: every default applied, every value checked, and
 * the warnings to emit (`config.warning`). What the gateway compiles into its snapshot.
 *
 * @example
 * const { routes, warnings } = parseGatewayConfig(config);
 */
export interface ResolvedGatewayConfig {
  auth: ResolvedAuthOptions | undefined;
  /** The default policy of every route; `undefined` when there is none. */
  rateLimit: ResolvedRateLimitOptions | undefined;
  store: z.output<typeof rateLimitStore> | undefined;
  routes: ResolvedGatewayRoute[];
  fallthrough: boolean;
  onEvent: GatewayEventListener | undefined;
  errorResponse: ErrorResponder | undefined;
  warnings: ConfigWarning[];
}

/**
 * The schema of `createGateway(config)`; the published JSON Schema is made from it.
 *
 * @example
 * gatewayConfig.safeParse(config).success;
 */
export const gatewayConfig = z
  .strictObject({
    /** The JSON Schema a JSON or YAML file of this configuration follows, for editors. Ignored. */
    $schema: z.string().optional(),
    /** The gateway's authentication strategies (see `authenticate()`). */
    auth: gatewayAuthOptions.optional(),
    /** The default rate limit of every route; `false` or absent: no default limit. */
    rateLimit: rateLimitOrFalse.optional(),
    /** Shared by every policy that names no store of its own. Default: one bounded `MemoryStore`. */
    store: rateLimitStore.optional(),
    /** Tried in order; the first match (path, method, host) wins. */
    routes: z
      .array(gatewayRoute, { error: 'must be a non-empty array of routes' })
      .min(1, { error: 'must be a non-empty array of routes' }),
    /** Default `true`: unmatched requests go to `next()`. `false`: 404 problem. */
    fallthrough: bool().default(true),
    /** Structured events (auth, rate limits, proxying, config warnings). No secrets. */
    onEvent: codeOnly<GatewayEventListener>().optional(),
    /** Replaces how problem bodies are written. Status and headers are set before it is called. */
    errorResponse: codeOnly<ErrorResponder>().optional(),
  })
  .transform((config, ctx): Omit<ResolvedGatewayConfig, 'warnings'> | typeof z.NEVER => {
    const auth = config.auth;
    let failed = false;
    const routes = config.routes.map((route, i): ResolvedGatewayRoute => {
      const { auth: routeAuthOption, rateLimit, ...options } = route;
      if (routeAuthOption !== undefined && routeAuthOption !== false && auth === undefined) {
        fail(ctx, 'needs the gateway-level `auth` option to say how to authenticate', {
          path: ['routes', i, 'auth'],
        });
        failed = true;
      }
      if (auth !== undefined && options.consumerHeaders !== undefined) {
        fail(ctx, "the gateway's routes use the names of auth.consumerHeaders; set them there", {
          path: ['routes', i, 'consumerHeaders'],
        });
        failed = true;
      }
      let requirement: AuthRequirement | null = null;
      if (auth !== undefined && routeAuthOption !== false) {
        if (routeAuthOption === undefined || routeAuthOption === true)
          requirement = auth.requirement;
        else if (routeAuthOption === 'optional') requirement = { optional: true, scopes: [] };
        else requirement = { optional: false, scopes: Object.freeze(routeAuthOption.scopes) };
      }
      return { ...resolveRoute(options), auth: requirement, rateLimit };
    });
    if (failed) return z.NEVER;
    return {
      auth,
      rateLimit: config.rateLimit === false ? undefined : config.rateLimit,
      store: config.store,
      routes,
      fallthrough: config.fallthrough,
      onEvent: config.onEvent,
      errorResponse: config.errorResponse,
    };
  });

/**
 * Options of {@link createGateway}. `routes` is required; `fallthrough` defaults to `true`.
 *
 * @example
 * const config: GatewayConfig = { rateLimit: { limit: 5, window: '1m' }, routes: [{ path: '/x', target: 'http://a' }] };
 */
export type GatewayConfig = Omit<z.input<typeof gatewayConfig>, 'auth'> & {
  /** The gateway's authentication strategies (see `authenticate()`). */
  auth?: Omit<AuthOptions, 'onEvent'>;
};

/**
 * Parses `createGateway`'s configuration: synchronous, without side effects (warnings are
 * returned, not emitted), so `gateway.update()` can call it too. Throws
 * `GatewayConfigError` listing every problem (`routes[1].target: …`).
 *
 * @example
 * const resolved = parseGatewayConfig({ routes: [{ path: '/x', target: 'http://localhost:8081' }] });
 */
export function parseGatewayConfig(input: unknown): ResolvedGatewayConfig {
  const { value, warnings } = parseOptions(gatewayConfig, input, { prefix: '', root: 'config' });
  return { ...value, warnings };
}

const gracePeriod = 'must be a number of milliseconds >= 0, e.g. 10_000';

/** The schema of `gateway.close(options)`. */
const closeOptions = z
  .strictObject({
    /**
     * How long requests and WebSocket tunnels in flight may take to finish, in milliseconds,
     * before they are cut. Default `10_000`; `0` cuts them at once.
     */
    graceMs: z
      .number({ error: gracePeriod })
      .min(0, { error: gracePeriod })
      .refine(Number.isFinite, { error: gracePeriod })
      .default(10_000),
  })
  .optional()
  .transform((options) => options ?? { graceMs: 10_000 });

/**
 * Options of `gateway.close()`.
 *
 * @example
 * await gateway.close({ graceMs: 30_000 });
 */
export type GatewayCloseOptions = z.input<typeof closeOptions>;

/**
 * Parses `gateway.close(options)`: `graceMs` defaults to `10_000`. Throws `GatewayConfigError`.
 *
 * @example
 * parseCloseOptions(undefined).graceMs; // 10000
 */
export function parseCloseOptions(input: unknown): { graceMs: number } {
  return parseOptions(closeOptions, input, { prefix: '', root: 'options' }).value;
}
