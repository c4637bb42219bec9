import { PathError, parse, pathToRegexp, type Token, type TokenData } from 'path-to-regexp';
import { GatewayConfigError } from '../errors.js';
import { normalizePath } from './normalize-path.js';
import { checkPatternComplexity, checkRegExpSpeed } from './pattern-safety.js';

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
 * Throws `GatewayConfigError` naming `field`:
 * - `ERR_CONFIG_INVALID_PATH` for a pattern path-to-regexp refuses, one that
 *   does not start with `/` or `{`, or whose literal text could never appear
 *   in a normalised path (`/a/../b`, `//x`, `/%7euser`, a raw `é`).
 * - `ERR_CONFIG_UNSAFE_PATTERN` for a pattern whose regular expression could
 *   be slow on hostile input (see `checkPatternComplexity`, `checkRegExpSpeed`).
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
  const data = parsePattern(pattern, field);
  checkLiteralText(data, pattern, field);
  checkPatternComplexity(data, pattern, field);
  let compiled: ReturnType<typeof pathToRegexp>;
  try {
    compiled = pathToRegexp(data, { sensitive: options.caseSensitive, end: true, trailing: true });
  } catch (err) {
    throw invalidPattern(err, pattern, field);
  }
  const { regexp, keys } = compiled;
  checkRegExpSpeed(regexp, data, pattern, field);
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
 * Parses a pattern, turning path-to-regexp's `PathError` into a
 * `GatewayConfigError` (`ERR_CONFIG_INVALID_PATH`). Shared with the rewrite
 * templates.
 *
 * @example
 * parsePattern('/users/:id', 'routes[0].path').tokens; // [text '/users/', param 'id']
 */
export function parsePattern(pattern: unknown, field: string): TokenData {
  if (typeof pattern !== 'string' || pattern.length === 0) {
    throw new GatewayConfigError(
      field,
      "must be a non-empty path pattern, e.g. '/users/:id' or '/public{/*path}'",
      'ERR_CONFIG_INVALID_PATH',
    );
  }
  const first = pattern.charCodeAt(0);
  if (first !== 47 && first !== 123) {
    throw new GatewayConfigError(
      field,
      `must start with '/' (got '${pattern}'), e.g. '/users/:id'`,
      'ERR_CONFIG_INVALID_PATH',
    );
  }
  try {
    return parse(pattern);
  } catch (err) {
    throw invalidPattern(err, pattern, field);
  }
}

function invalidPattern(err: unknown, pattern: string, field: string): Error {
  if (!(err instanceof PathError)) return err instanceof Error ? err : new Error(String(err));
  return new GatewayConfigError(
    field,
    `is not a valid path-to-regexp 8 pattern ('${pattern}': ${err.message})`,
    'ERR_CONFIG_INVALID_PATH',
  );
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
function checkLiteralText(data: TokenData, pattern: string, field: string): void {
  const sample = samplePath(data.tokens);
  if (sample.length === 0) return;
  const normalised = normalizePath(sample);
  if (normalised === sample) return;
  const hint = /[\u0080-\u{10ffff}]/u.test(pattern)
    ? `write non-ASCII text percent-encoded as UTF-8, as clients send it: '${pattern.replace(/[\u0080-\u{10ffff}]/gu, encodeUtf8)}'`
    : normalised === null
      ? "path normalisation refuses its literal text (e.g. %2F, '\\', a space, '..' above the root)"
      : `requests are matched after normalisation, so write it the way '${normalised}' is written`;
  throw new GatewayConfigError(
    field,
    `can never match ('${pattern}'): ${hint}`,
    'ERR_CONFIG_INVALID_PATH',
  );
}
