import { compile, type Token, type TokenData } from 'path-to-regexp';
import { GatewayConfigError } from '../errors.js';
import type { GatewayRequest } from '../types.js';
import { describePathRejection, normalizePath } from './normalize-path.js';
import { parsePatternText, samplePath } from './path-matcher.js';

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
 * A rewrite produced a path the gateway may not forward: the operator's
 * error (SPEC §8), answered 500 `internal_error`. `reason` says why in a few
 * fixed words (a `PathRejection`, `not_a_string` or `not_ascii`), never with
 * the path itself, so it is safe in events.
 *
 * @example
 * if (err instanceof RewriteRefusedError) emitProxyError(err.reason);
 */
export class RewriteRefusedError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`the rewrite result may not be forwarded (${reason})`);
    this.name = 'RewriteRefusedError';
    this.reason = reason;
  }
}

/**
 * Compiles a route's `rewrite` once. Every result, template or function, is
 * normalised like a client path (SPEC §5.1, `normalizePath`) before it is
 * forwarded; a result that a client path would be refused for throws
 * {@link RewriteRefusedError}.
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
 * param in the other is converted (`['a', 'b']` ⇄ `'a/b'`). Its result is
 * normalised too: a param that is only part of a segment can be `.` or `..`
 * (`/p/:a-y` on `/p/..-y` gives `a: '..'`, so `/:a` gives `/..`), and an
 * empty wildcard segment (`/files/a/` gives `['a', '']`) can make `//`.
 *
 * A function is called with `{ path, params, req }` and must return a path:
 * a string starting with `/`, in ASCII (escape anything else with `%XX`),
 * with no `?` or `#` (the gateway appends the original query string itself).
 * Its result is normalised (`/a/./b` → `/a/b`, `%7e` → `~`); one that is no
 * string, not ASCII, or that normalisation refuses (climbing above the root,
 * `\`, NUL, `%2F`, an invalid escape, control characters, not starting with
 * `/`) throws {@link RewriteRefusedError}. An exception of the function itself
 * is let through. Either way the route answers 500 `internal_error`.
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
  if (typeof rewrite === 'function') return checkedFunction(rewrite);
  const problem =
    typeof rewrite === 'string' ? checkRewriteTemplate(rewrite, pattern) : TEMPLATE_MESSAGE;
  if (problem !== null) throw new GatewayConfigError(field, problem, 'ERR_CONFIG_INVALID_PATH');
  const template = parsePatternText(rewrite as string) as TokenData;
  const patternKeys = collectKeys((parsePatternText(pattern) as TokenData).tokens, true, new Map());
  const templateKeys = collectKeys(template.tokens, true, new Map());
  const conversions: Array<{ name: string; kind: 'param' | 'wildcard' }> = [];
  for (const [name, key] of templateKeys) {
    const defined = patternKeys.get(name) as TemplateKey;
    if (key.kind !== defined.kind) conversions.push({ name, kind: key.kind });
  }
  // No encoding: params are already in the normalised path's own escapes.
  const fill = compile(template, { encode: (value: string) => value });
  if (conversions.length === 0) {
    return function rewriteTemplate({ params }) {
      return normalisedOrRefused(fill(params as Parameters<typeof fill>[0]));
    };
  }
  return function rewriteTemplate({ params }) {
    const data: Record<string, unknown> = { ...params };
    for (const { name, kind } of conversions) {
      const value = data[name];
      if (kind === 'wildcard' && typeof value === 'string') data[name] = value.split('/');
      else if (kind === 'param' && Array.isArray(value)) data[name] = value.join('/');
    }
    return normalisedOrRefused(fill(data as Parameters<typeof fill>[0]));
  };
}

const TEMPLATE_MESSAGE =
  "must be a path template starting with '/' (e.g. '/{*path}') or a function ({ path, params, req }) => string";

/**
 * Why a rewrite template is refused for the route pattern `pattern` (already
 * valid), or `null`: it must start with `/`, be in normalised form, use only
 * params the pattern defines and not require one the pattern only has in an
 * optional group. The schema's refinement and {@link compileRewrite} share it.
 *
 * @example
 * checkRewriteTemplate('/y/:other', '/x/:id'); // "uses the param 'other', which the route path '/x/:id' does not define …"
 */
export function checkRewriteTemplate(rewrite: string, pattern: string): string | null {
  if (rewrite.charCodeAt(0) !== 47) return TEMPLATE_MESSAGE;
  const template = parsePatternText(rewrite);
  if (typeof template === 'string') return template;
  const sample = samplePath(template.tokens);
  const normalised = normalizePath(sample);
  if (normalised !== sample) {
    return `must be a normalised path ('${rewrite}'${normalised === null ? '' : `, e.g. '${normalised}'`}): no '.', '..' or '//' segments, no raw spaces or non-ASCII, upper-case %XX escapes`;
  }
  const parsedPattern = parsePatternText(pattern);
  if (typeof parsedPattern === 'string') return null; // the path option reports it
  const patternKeys = collectKeys(parsedPattern.tokens, true, new Map());
  const templateKeys = collectKeys(template.tokens, true, new Map());
  for (const [name, key] of templateKeys) {
    const defined = patternKeys.get(name);
    if (defined === undefined) {
      const known = [...patternKeys.keys()].map((k) => `'${k}'`).join(', ') || 'none';
      return `uses the param '${name}', which the route path '${pattern}' does not define (it defines: ${known})`;
    }
    if (key.required && !defined.required) {
      return `requires the param '${name}', which is optional in the route path '${pattern}'; put it in an optional group too, e.g. '{/*${name}}'`;
    }
  }
  return null;
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

function checkedFunction(rewrite: Rewriter): Rewriter {
  return function rewriteFunction(ctx) {
    const result: unknown = rewrite(ctx);
    if (typeof result !== 'string') throw new RewriteRefusedError('not_a_string');
    if (!isAscii(result)) throw new RewriteRefusedError('not_ascii');
    return normalisedOrRefused(result);
  };
}

/** The path as the upstream receives it (normalised, usually the same string), or a refusal. */
function normalisedOrRefused(path: string): string {
  const normalised = normalizePath(path);
  if (normalised !== null) return normalised;
  throw new RewriteRefusedError(describePathRejection(path) ?? 'not_origin_form');
}

/**
 * Only ASCII: `normalizePath` would encode a character from 0x80 to 0xFF as
 * that single byte (how Node reads a request line), but a function's `é`
 * most likely meant UTF-8's `%C3%A9`. Better refused than silently wrong.
 */
function isAscii(path: string): boolean {
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) > 0x7f) return false;
  return true;
}
