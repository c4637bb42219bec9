import { PathError, parse, pathToRegexp, type Token, type TokenData } from 'path-to-regexp';
import { GatewayConfigError } from '../errors.js';
import { normalizePath } from './normalize-path.js';
import { checkPatternComplexity } from './pattern-safety.js';

/**
 * Matches a normalised path (see `normalizePath`) against one route pattern.
 * Returns the params, or `null` when the path does not match.
 *
 * Params are the matched text exactly as it is in the normalised path, not
 * decoded: `'/files/:name'` on `'/files/a%20b'` gives `{ name: 'a%20b' }`.
 * A wildcard (`*path`) gives the array of its segments, as path-to-regexp
 * does: `{ path: ['a', 'b'] }` for `'/a/b'`. Params missing from an optional
 * group are absent.
 *
 * @example
 * const match: PathMatcher = compilePathMatcher('/files/*path', { caseSensitive: true }, 'path');
 * match('/files/a/b'); // { params: { path: ['a', 'b'] } }
 */
export type PathMatcher = (path: string) => { params: Record<string, unknown> } | null;

/**
 * Why a route pattern is refused, with its code, or `null` when it is valid.
 * Decided by the pattern's text and structure alone (the same on every
 * machine): path-to-regexp 8 syntax, starting with `/` or `{`, literal text
 * already in normalised form, and the structural limits of
 * `checkPatternComplexity`. The Express 4 syntax that path-to-regexp 8 refuses
 * (`'/public/*'`, `'/:id?'`, `'(.*)'`) is recognised and the new form suggested.
 *
 * @example
 * checkRoutePattern('/public/*'); // { code: 'ERR_CONFIG_INVALID_PATH', message: "… write '/public/*path' …" }
 * checkRoutePattern('/users/:id'); // null
 */
export function checkRoutePattern(
  pattern: string,
): { code: 'ERR_CONFIG_INVALID_PATH' | 'ERR_CONFIG_UNSAFE_PATTERN'; message: string } | null {
  const parsed = parsePatternText(pattern);
  if (typeof parsed === 'string') return { code: 'ERR_CONFIG_INVALID_PATH', message: parsed };
  const literal = literalTextProblem(parsed, pattern);
  if (literal !== null) return { code: 'ERR_CONFIG_INVALID_PATH', message: literal };
  const unsafe = checkPatternComplexity(parsed, pattern);
  if (unsafe !== null) return { code: 'ERR_CONFIG_UNSAFE_PATTERN', message: unsafe };
  try {
    pathToRegexp(parsed, { end: true, trailing: true });
  } catch (err) {
    return { code: 'ERR_CONFIG_INVALID_PATH', message: invalidPatternMessage(err, pattern) };
  }
  return null;
}

/**
 * Compiles a route pattern once, in path-to-regexp 8 syntax (`/users/:id`,
 * `/files/*path`, `/public{/*path}`), matched against the whole normalised
 * path (`end: true`); a single trailing `/` is tolerated (`/users/1/` matches
 * `/users/:id`), as in Express.
 *
 * Params are not percent-decoded, so they carry the very escapes the
 * upstream receives and a rewrite template can put them back unchanged (no
 * double encoding, no `%2F` turning into `/`); decoding would also throw on
 * escapes that are not UTF-8 (`%E9`). Call `decodeURIComponent` yourself when
 * you need the text.
 *
 * Throws `GatewayConfigError` naming `field` for a pattern
 * {@link checkRoutePattern} refuses (`ERR_CONFIG_INVALID_PATH`,
 * `ERR_CONFIG_UNSAFE_PATTERN`); the option schemas check it first, so the
 * gateway's own calls never throw.
 *
 * @param options.caseSensitive - whether `/Users` differs from `/users`
 *   (route() defaults it to `false`, as Express). Either way params keep
 *   the case of the path.
 * @example
 * const match = compilePathMatcher('/users/:id', { caseSensitive: true }, 'routes[0].path');
 * match('/users/42'); // { params: { id: '42' } }
 * match('/posts/42'); // null
 */
export function compilePathMatcher(
  pattern: string,
  options: { caseSensitive: boolean },
  field: string,
): PathMatcher {
  const problem = checkRoutePattern(pattern);
  if (problem !== null) throw new GatewayConfigError(field, problem.message, problem.code);
  const { regexp, keys } = pathToRegexp(parse(pattern), {
    sensitive: options.caseSensitive,
    end: true,
    trailing: true,
  });
  // One entry per capture group; a name repeats when optional groups expand into alternatives.
  const names = keys.map((key) => key.name);
  const wildcard = keys.map((key) => key.type === 'wildcard');
  return function matchPath(path) {
    const m = regexp.exec(path);
    if (m === null) return null;
    // No prototype: a param named `__proto__` must stay a plain entry.
    const params: Record<string, unknown> = Object.create(null);
    for (let i = 1; i < m.length; i++) {
      const value = m[i];
      if (value === undefined) continue;
      params[names[i - 1]!] = wildcard[i - 1] ? value.split('/') : value;
    }
    return { params };
  };
}

/**
 * Parses a pattern or rewrite template: its tokens, or why it is not valid
 * path-to-regexp 8 (with the new spelling of Express 4 syntax). Shared with the
 * rewrite templates.
 *
 * @example
 * parsePatternText('/users/:id'); // TokenData
 * parsePatternText('/:id?');      // "is not a valid path-to-regexp 8 pattern … write '{/:id}' …"
 */
export function parsePatternText(pattern: string): TokenData | string {
  if (pattern.length === 0) {
    return "must be a non-empty path pattern, e.g. '/users/:id' or '/public{/*path}'";
  }
  const first = pattern.charCodeAt(0);
  if (first !== 47 && first !== 123) {
    const hint = express4Hint(pattern);
    return hint ?? `must start with '/' (got '${pattern}'), e.g. '/users/:id'`;
  }
  try {
    return parse(pattern);
  } catch (err) {
    return invalidPatternMessage(err, pattern);
  }
}

function invalidPatternMessage(err: unknown, pattern: string): string {
  if (!(err instanceof PathError)) throw err;
  const hint = express4Hint(pattern);
  if (hint !== undefined) return hint;
  // path-to-regexp repeats the pattern and adds a link after the reason: keep the reason.
  const reason = err.message.split(`: ${pattern}`)[0] as string;
  return `is not a valid path-to-regexp 8 pattern ('${pattern}': ${reason})`;
}

/**
 * The message for Express 4 (path-to-regexp 0.x) spellings, with their path-to-regexp 8 form:
 * `'/public/*'` → `'/public/*path'` (or `'/public{/*path}'`, which also matches
 * `'/public'`), `'/:id?'` → `'{/:id}'`, `'/:path*'` → `'{/*path}'`,
 * `'/:path+'` → `'/*path'`, `'(.*)'` → `'*path'`. `undefined` when none is seen.
 *
 * @example
 * express4Hint('/users/:id?');
 * // "is Express 4 syntax ('/users/:id?': optional params (:name?)); path-to-regexp 8 writes it '/users{/:id}'"
 */
export function express4Hint(pattern: string): string | undefined {
  const kinds: string[] = [];
  let fixed = pattern;
  fixed = fixed.replace(/(\/?):([A-Za-z_$][\w$]*)\?/g, (_m, slash: string, name: string) => {
    kinds.push('optional params (:name?)');
    return `{${slash}:${name}}`;
  });
  fixed = fixed.replace(/(\/?):([A-Za-z_$][\w$]*)\*/g, (_m, slash: string, name: string) => {
    kinds.push('repeated params (:name*)');
    return `{${slash}*${name}}`;
  });
  fixed = fixed.replace(/:([A-Za-z_$][\w$]*)\+/g, (_m, name: string) => {
    kinds.push('repeated params (:name+)');
    return `*${name}`;
  });
  fixed = fixed.replace(/(?::([A-Za-z_$][\w$]*))?\(\.\*\)/g, (_m, name: string | undefined) => {
    kinds.push("catch-alls '(.*)'");
    return `*${name ?? 'path'}`;
  });
  let bareStar = false;
  fixed = fixed.replace(/\*(?![A-Za-z_$"])/g, () => {
    bareStar = true;
    return '*path';
  });
  if (bareStar) kinds.push("bare wildcards '*'");
  if (kinds.length === 0) {
    if (/\([^)]*\)/.test(pattern)) {
      return `is not a valid path-to-regexp 8 pattern ('${pattern}'): it has no inline regular expressions; match the segment with a param (':id') and check it upstream`;
    }
    return undefined;
  }
  if (!fixed.startsWith('/') && !fixed.startsWith('{')) fixed = `/${fixed}`;
  let suggestion = `'${fixed}'`;
  // '/public/*' in Express 4 also matched '/public/': offer the form that matches '/public' too.
  const optionalTail = /\/\*path$/.exec(fixed);
  if (bareStar && optionalTail) {
    suggestion += ` (or '${fixed.slice(0, optionalTail.index)}{/*path}' to match '${fixed.slice(0, optionalTail.index) || '/'}' too)`;
  }
  return `is Express 4 syntax ('${pattern}': ${[...new Set(kinds)].join(', ')}); path-to-regexp 8 writes it ${suggestion}`;
}
/**
 * A path with every optional group present and every param replaced by `x`.
 * Used to check that the literal text of a pattern or template is already
 * in normalised form.
 *
 * @example
 * samplePath(parse('/users/:id{/*rest}').tokens); // '/users/x/x'
 */
export function samplePath(tokens: readonly Token[]): string {
  let out = '';
  for (const token of tokens) {
    if (token.type === 'text') out += token.value;
    else if (token.type === 'group') out += samplePath(token.tokens);
    else out += 'x';
  }
  return out;
}

function encodeUtf8(char: string): string {
  try {
    return encodeURIComponent(char);
  } catch {
    return char; // a lone surrogate: nothing sensible to suggest
  }
}

/**
 * Routes are matched against normalised paths only, so a literal that
 * normalisation would change (`/a//b`, `/./x`, `/%7e`, a raw space or `é`)
 * can never match: refuse it instead of letting the route silently be dead.
 */
function literalTextProblem(data: TokenData, pattern: string): string | null {
  const sample = samplePath(data.tokens);
  if (sample.length === 0) return null;
  const normalised = normalizePath(sample);
  if (normalised === sample) return null;
  const hint = /[\u0080-\u{10ffff}]/u.test(pattern)
    ? `write non-ASCII text percent-encoded as UTF-8, as clients send it: '${pattern.replace(/[\u0080-\u{10ffff}]/gu, encodeUtf8)}'`
    : normalised === null
      ? "path normalisation refuses its literal text (e.g. %2F, '\\', a space, '..' above the root)"
      : `requests are matched after normalisation, so write it the way '${normalised}' is written`;
  return `can never match ('${pattern}'): ${hint}`;
}
