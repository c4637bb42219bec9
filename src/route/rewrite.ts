import { compile, type Token } from 'path-to-regexp';
import { GatewayConfigError } from '../errors.js';
import type { GatewayRequest } from '../types.js';
import { normalizePath } from './normalize-path.js';
import { parsePattern, samplePath } from './path-matcher.js';

/**
 * Turns the matched (normalised) path into the path the upstream receives.
 * `path` has no query string; the gateway appends the original one. `params`
 * are the route's params as the path matcher returns them (not decoded;
 * wildcards as arrays of segments).
 *
 * @example
 * const toV2: Rewriter = ({ path }) => `/v2${path}`;
 */
export type Rewriter = (ctx: {
  path: string;
  params: Record<string, unknown>;
  req: GatewayRequest;
}) => string;

interface TemplateKey {
  kind: 'param' | 'wildcard';
  /** Present on every path that matches (not inside an optional group). */
  required: boolean;
}

/**
 * Compiles a route's `rewrite` once.
 *
 * A string is a path-to-regexp 8 template filled with the route's matched
 * params: with `path: '/public{/*path}'` and `rewrite: '/{*path}'`,
 * `/public/a/b` → `/a/b` and `/public` → `/`. Params go in exactly as they
 * were in the normalised path — escapes are neither added nor decoded — so
 * `%20` stays `%20` and no `%2F` can become a `/`. Checked now: the template
 * starts with `/`, uses only params the route pattern defines, does not
 * require a param the pattern only has in an optional group, and its own text
 * is in normalised form; otherwise `GatewayConfigError`
 * (`ERR_CONFIG_INVALID_PATH`). A param used as a wildcard in one and a plain
 * param in the other is converted (`['a', 'b']` ⇄ `'a/b'`).
 *
 * A function is called with `{ path, params, req }` and must return a path:
 * a string starting with `/`, made of printable ASCII (escape anything else
 * with `%XX`), with no `?` or `#` (the gateway appends the original query
 * string itself). Anything else throws a `TypeError` naming the route's
 * field — a programming error that reaches the host's error handler through
 * `next(err)`, like an exception thrown by the function itself. Its result
 * is trusted code's output and is forwarded as returned, not normalised.
 *
 * @example
 * const rewrite = compileRewrite('/v2/{*path}', '/api/*path', 'routes[0].rewrite');
 * rewrite({ path: '/api/a/b', params: { path: ['a', 'b'] }, req }); // '/v2/a/b'
 */
export function compileRewrite(
  rewrite: string | Rewriter,
  pattern: string,
  field: string,
): Rewriter {
  if (typeof rewrite === 'function') return checkedFunction(rewrite, field);
  if (typeof rewrite !== 'string' || rewrite.charCodeAt(0) !== 47) {
    throw new GatewayConfigError(
      field,
      "must be a path template starting with '/' (e.g. '/{*path}') or a function ({ path, params, req }) => string",
      'ERR_CONFIG_INVALID_PATH',
    );
  }
  const template = parsePattern(rewrite, field);
  const sample = samplePath(template.tokens);
  const normalised = normalizePath(sample);
  if (normalised !== sample) {
    throw new GatewayConfigError(
      field,
      `must be a normalised path ('${rewrite}'${normalised === null ? '' : `, e.g. '${normalised}'`}): no '.', '..' or '//' segments, no raw spaces or non-ASCII, upper-case %XX escapes`,
      'ERR_CONFIG_INVALID_PATH',
    );
  }
  // The pattern was already validated by the path matcher; parse it again only to read its keys.
  const patternKeys = collectKeys(parsePattern(pattern, field).tokens, true, new Map());
  const templateKeys = collectKeys(template.tokens, true, new Map());
  const conversions: Array<{ name: string; kind: 'param' | 'wildcard' }> = [];
  for (const [name, key] of templateKeys) {
    const defined = patternKeys.get(name);
    if (defined === undefined) {
      const known = [...patternKeys.keys()].map((k) => `'${k}'`).join(', ') || 'none';
      throw new GatewayConfigError(
        field,
        `uses the param '${name}', which the route path '${pattern}' does not define (it defines: ${known})`,
        'ERR_CONFIG_INVALID_PATH',
      );
    }
    if (key.required && !defined.required) {
      throw new GatewayConfigError(
        field,
        `requires the param '${name}', which is optional in the route path '${pattern}'; put it in an optional group too, e.g. '{/*${name}}'`,
        'ERR_CONFIG_INVALID_PATH',
      );
    }
    if (key.kind !== defined.kind) conversions.push({ name, kind: key.kind });
  }
  // No encoding: params are already in the normalised path's own escapes.
  const fill = compile(template, { encode: (value: string) => value });
  if (conversions.length === 0) {
    return function rewriteTemplate({ params }) {
      return fill(params as Parameters<typeof fill>[0]);
    };
  }
  return function rewriteTemplate({ params }) {
    const data: Record<string, unknown> = { ...params };
    for (const { name, kind } of conversions) {
      const value = data[name];
      if (kind === 'wildcard' && typeof value === 'string') data[name] = value.split('/');
      else if (kind === 'param' && Array.isArray(value)) data[name] = value.join('/');
    }
    return fill(data as Parameters<typeof fill>[0]);
  };
}

function collectKeys(
  tokens: readonly Token[],
  required: boolean,
  out: Map<string, TemplateKey>,
): Map<string, TemplateKey> {
  for (const token of tokens) {
    if (token.type === 'group') collectKeys(token.tokens, false, out);
    else if (token.type === 'param' || token.type === 'wildcard') {
      const seen = out.get(token.name);
      // A name present both inside and outside a group counts as required.
      out.set(token.name, { kind: token.type, required: required || (seen?.required ?? false) });
    }
  }
  return out;
}

function checkedFunction(rewrite: Rewriter, field: string): Rewriter {
  return function rewriteFunction(ctx) {
    const result: unknown = rewrite(ctx);
    if (typeof result !== 'string' || !isForwardablePath(result)) {
      const shown = typeof result === 'string' ? JSON.stringify(result) : typeof result;
      throw new TypeError(
        `${field}: the rewrite function must return a path starting with '/', in printable ASCII, without '?' or '#' (got ${shown})`,
      );
    }
    return result;
  };
}

/** Starts with '/', only printable ASCII, no '?' or '#': what Node can send and means one path. */
function isForwardablePath(path: string): boolean {
  if (path.charCodeAt(0) !== 47) return false;
  for (let i = 1; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x3f || c === 0x23) return false;
  }
  return true;
}
