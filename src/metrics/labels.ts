// Label values of the Prometheus metrics. Every one is bounded by the configuration, never by
// what clients send: routes by name or template, methods from a fixed set, targets as configured.

/**
 * The label of a request no route matched, and of events outside any route (a standalone
 * `authenticate()` or `rateLimit()`).
 *
 * @example
 * routeLabel(null); // 'unmatched'
 */
export const NO_ROUTE = 'unmatched';

/**
 * The `method` label of a method outside {@link STANDARD_METHODS}, as OpenTelemetry's HTTP
 * semantic conventions name it.
 *
 * @example
 * methodLabel('PROPFIND'); // '_OTHER'
 */
export const OTHER_METHOD = '_OTHER';

/**
 * The methods of RFC 9110 and PATCH (RFC 5789): the "known methods" of OpenTelemetry's HTTP
 * semantic conventions. Any other method a server accepts (WebDAV's, PURGE, …) is `_OTHER`.
 *
 * @example
 * STANDARD_METHODS.has('GET'); // true
 */
export const STANDARD_METHODS: ReadonlySet<string> = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
]);

/**
 * The `route` label: the route's name or path template as the event carries it, `unmatched`
 * for none.
 *
 * @example
 * routeLabel('/users/:id'); // '/users/:id'
 */
export function routeLabel(route: string | null | undefined): string {
  return route ?? NO_ROUTE;
}

/**
 * The `method` label: the method itself when it is standard, else `_OTHER`.
 *
 * @example
 * methodLabel('GET'); // 'GET'
 */
export function methodLabel(method: string): string {
  return STANDARD_METHODS.has(method) ? method : OTHER_METHOD;
}

/**
 * The `target` label: the configured target URL without credentials. Events already carry it
 * so; a URL with userinfo (an event built elsewhere) is cleaned here anyway, so a password can
 * never become a label.
 *
 * @example
 * targetLabel('http://user:pw@users:8080/v1'); // 'http://users:8080/v1'
 */
export function targetLabel(target: string): string {
  if (!target.includes('@')) return target;
  try {
    const url = new URL(target);
    url.username = '';
    url.password = '';
    const href = url.href;
    return href.endsWith('/') && !target.endsWith('/') ? href.slice(0, -1) : href;
  } catch {
    // Not a URL: no structure to keep, and it may hold a secret.
    return 'invalid';
  }
}
