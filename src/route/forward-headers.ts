import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { type ConsumerHeaderNames, DEFAULT_CONSUMER_HEADERS } from '../auth/consumer-headers.js';
import { clientAddress } from '../client-address.js';
import type { ResolvedHeaderRules } from '../schema/route.js';
import type { GatewayRequest } from '../types.js';
import {
  connectionNamed,
  copyHeadersExcept,
  deleteAll,
  HOP_BY_HOP_REQUEST,
  isForwardingHeader,
} from './hop-by-hop.js';

/** What Express adds to a request, when the gateway runs inside Express. */
interface ExpressRequestLike extends GatewayRequest {
  /** The proxies Express trusts plus the client, client first (empty without `trust proxy`). */
  ips?: string[];
  /** `http`/`https`, from a trusted `X-Forwarded-Proto` or the socket. */
  protocol?: string;
}

/**
 * Client-sent headers that never reach an upstream (SPEC §8), because
 * upstreams commonly trust them for routing, method or identity and a client
 * could otherwise say anything in them:
 * - URL overrides (IIS/ASP.NET, Symfony, some frameworks route by them):
 *   `X-Original-URL`, `X-Rewrite-URL`, `X-Override-URL`;
 * - method overrides (a client must not turn an allowed GET into a DELETE
 *   behind the route's back): `X-HTTP-Method-Override`, `X-HTTP-Method`,
 *   `X-Method-Override`;
 * - client addresses set by CDNs and proxies: `X-Real-IP`, `True-Client-IP`,
 *   `X-Client-IP`, `CF-Connecting-IP`;
 * - forwarding headers the gateway does not set: `Forwarded`,
 *   `X-Forwarded-Port`, `-Prefix`, `-Ssl`, `-Scheme`, `-Server` (and every
 *   other `X-Forwarded-*`, see {@link isForwardingHeader}), so the only
 *   forwarding headers an upstream receives are the gateway's own
 *   `X-Forwarded-For`, `-Proto` and `-Host`;
 * - `Expect` (Node already answered `100 Continue`).
 *
 * A route's `headers.request.set` may still set any of them itself.
 * Built into each route's skip set once, at construction.
 *
 * @example
 * CLIENT_ONLY_HEADERS.includes('x-original-url'); // true
 */
export const CLIENT_ONLY_HEADERS: readonly string[] = [
  'x-original-url',
  'x-rewrite-url',
  'x-override-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-real-ip',
  'true-client-ip',
  'x-client-ip',
  'cf-connecting-ip',
  'forwarded',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-ssl',
  'x-forwarded-scheme',
  'x-forwarded-server',
  'expect',
];

/** Set by the gateway itself on every forwarded request, never copied from the client. */
const GATEWAY_SET_HEADERS: readonly string[] = [
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
];

/** A body's framing: never removed by a route's `headers.request.remove`. */
const FRAMING_HEADERS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding']);

/**
 * Everything about a route's request headers fixed at construction.
 *
 * @example
 * const plan: RequestHeaderPlan = requestHeaderPlan(resolved.requestHeaders, undefined);
 */
export interface RequestHeaderPlan {
  /**
   * Client headers never copied to the upstream request: hop-by-hop,
   * client-only, the route's `headers.request.remove` and those the gateway sets.
   */
  skip: ReadonlySet<string>;
  /** `skip` plus the consumer headers, for requests without a principal. */
  skipWithoutPrincipal: ReadonlySet<string>;
  /** The consumer header names (lower-case): set by the gateway when there is a principal. */
  consumerNames: readonly string[];
  /**
   * The consumer names that are `X-Forwarded-*` themselves (`consumerHeaders: { id:
   * 'x-forwarded-user' }`, as oauth2-proxy's upstreams expect): kept from the authenticated
   * request although every other `X-Forwarded-*` is dropped. Usually empty.
   */
  forwardingConsumerNames: readonly string[];
  rules: ResolvedHeaderRules;
  removeList: readonly string[];
}

/**
 * Builds a route's header plan once. Consumer headers default to `x-consumer-id`,
 * `x-consumer-scopes` and `x-consumer-type`.
 *
 * @example
 * requestHeaderPlan(rules, { id: 'x-user', scopes: 'x-user-scopes', type: 'x-user-type' }).skipWithoutPrincipal.has('x-user'); // true
 */
export function requestHeaderPlan(
  rules: ResolvedHeaderRules,
  consumerHeaders: ConsumerHeaderNames | undefined,
): RequestHeaderPlan {
  const consumer = consumerHeaders ?? DEFAULT_CONSUMER_HEADERS;
  // `remove` cannot take a body's framing away: an unframed body would be read as the next request.
  const remove = [...rules.remove].filter((name) => !FRAMING_HEADERS.has(name));
  const skip = new Set([
    ...HOP_BY_HOP_REQUEST,
    ...CLIENT_ONLY_HEADERS,
    ...GATEWAY_SET_HEADERS,
    ...remove,
  ]);
  const consumerNames = [
    consumer.id.toLowerCase(),
    consumer.scopes.toLowerCase(),
    consumer.type.toLowerCase(),
  ];
  return {
    skip,
    skipWithoutPrincipal: new Set([...skip, ...consumerNames]),
    consumerNames,
    forwardingConsumerNames: consumerNames.filter(isForwardingHeader),
    rules,
    removeList: remove,
  };
}

/**
 * `X-Forwarded-For` as Express trusts it: the chain Express accepted (its
 * `req.ips`, client first, empty without `trust proxy`) followed by the
 * address that connected to the gateway. Addresses a client wrote itself
 * beyond what `trust proxy` accepts are dropped, so the first entry is always
 * `req.ip`. Without Express: the socket's address.
 *
 * @example
 * // trust proxy 'loopback', from 127.0.0.1 with `X-Forwarded-For: 6.6.6.6, 203.0.113.7`:
 * forwardedFor(req); // '203.0.113.7, 127.0.0.1'
 */
export function forwardedFor(req: ExpressRequestLike): string {
  const peer = req.socket.remoteAddress ?? '';
  if (req.headers['x-forwarded-for'] === undefined) return clientAddress(req) ?? peer;
  const ips = req.ips;
  if (ips === undefined || ips.length === 0) return req.ip ?? peer;
  return peer === '' ? ips.join(', ') : `${ips.join(', ')}, ${peer}`;
}

/**
 * `http` or `https` as Express trusts it (`req.protocol`), else from the socket.
 *
 * @example
 * forwardedProto(req); // 'https' behind a trusted TLS-terminating proxy
 */
export function forwardedProto(req: ExpressRequestLike): string {
  // Without X-Forwarded-Proto Express's getter can only answer from the socket too: not run then.
  if (req.headers['x-forwarded-proto'] !== undefined || Object.hasOwn(req, 'protocol')) {
    const protocol = req.protocol;
    if (protocol === 'http' || protocol === 'https') return protocol;
  }
  return (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
}

/**
 * Replaces `req.headers` by what the upstream receives (the forwarder and
 * http-proxy-middleware send them as they are), built in one pass into a
 * fresh object: hop-by-hop and
 * `Connection`-named headers, client-only headers, every client
 * `X-Forwarded-*` (but the gateway's own consumer headers, whatever their
 * names) and (without a principal) client-sent consumer headers left out; `X-Forwarded-For/-Proto/-Host` and
 * `X-Request-Id` set; then the route's `headers.request` rules; last
 * `Transfer-Encoding: chunked` when the client sent a chunked body (its own
 * value is never copied). `tunnel` keeps `Connection: upgrade` and
 * `Upgrade: websocket` for a WebSocket handshake. `Host` is set per attempt.
 *
 * @example
 * prepareRequestHeaders(req, req.gateway.requestId, plan, false);
 */
export function prepareRequestHeaders(
  req: GatewayRequest,
  requestId: string,
  plan: RequestHeaderPlan,
  tunnel: boolean,
): void {
  const received: IncomingHttpHeaders = req.headers;
  // Read what Express trusts before the headers it reads from are replaced.
  const xff = forwardedFor(req);
  const proto = forwardedProto(req);
  const receivedHost = received.host;
  const authenticated = req.gateway?.principal !== undefined;
  const skip = authenticated ? plan.skip : plan.skipWithoutPrincipal;
  const named = connectionNamed(received.connection);
  if (named !== null && authenticated) {
    // The consumer headers are the gateway's own (authentication replaced any client copy): a
    // client must not make them vanish by naming them in `Connection`.
    for (const name of plan.consumerNames) named.delete(name);
  }
  const headers = copyHeadersExcept(received, skip, named, true);
  if (authenticated && plan.forwardingConsumerNames.length !== 0) {
    // Set by authentication (any client copy was replaced): the gateway's own, not a client's.
    for (const name of plan.forwardingConsumerNames) {
      const value = received[name];
      if (value !== undefined) headers[name] = value;
    }
  }
  headers['x-forwarded-for'] = xff;
  headers['x-forwarded-proto'] = proto;
  if (receivedHost !== undefined) headers['x-forwarded-host'] = receivedHost;
  headers['x-request-id'] = requestId;
  if (tunnel) {
    headers.connection = 'upgrade';
    headers.upgrade = 'websocket';
  }
  // The client's copies were not copied; this only removes what the gateway itself set above.
  const { removeList, rules } = plan;
  if (removeList.length !== 0) deleteAll(headers, removeList);
  const set = rules.set;
  for (let i = 0; i < set.length; i++) {
    const entry = set[i] as readonly [string, string];
    headers[entry[0]] = entry[1];
  }
  // Admission let only `chunked` alone (any case) through; the upstream gets exactly that, never
  // the client's spelling, and Node frames the body accordingly.
  if (received['transfer-encoding'] !== undefined) headers['transfer-encoding'] = 'chunked';
  req.headers = headers;
}
