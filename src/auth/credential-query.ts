/** Marks a query parameter that was given more than once or is not valid percent-encoding. */
export const AMBIGUOUS = Symbol('ambiguous');

/**
 * The value of query parameter `name` in a request target (`/path?a=1&b=2`),
 * decoded (`+` as space); `undefined` when absent, {@link AMBIGUOUS} when it
 * appears more than once or cannot be decoded. Parameter names match raw or
 * percent-decoded.
 */
export function findQueryParam(url: string, name: string): string | undefined | typeof AMBIGUOUS {
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  let found: string | undefined | typeof AMBIGUOUS;
  let start = q + 1;
  const end = url.length;
  while (start <= end) {
    let amp = url.indexOf('&', start);
    if (amp === -1) amp = end;
    const eq = url.indexOf('=', start);
    const nameEnd = eq !== -1 && eq < amp ? eq : amp;
    if (nameMatches(url.slice(start, nameEnd), name)) {
      if (found !== undefined) return AMBIGUOUS;
      found = nameEnd === amp ? '' : decode(url.slice(nameEnd + 1, amp));
      if (found === AMBIGUOUS) return AMBIGUOUS;
    }
    start = amp + 1;
  }
  return found;
}

/** The request target without any occurrence of query parameter `name` (and without a dangling `?`). */
export function removeQueryParam(url: string, name: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const kept: string[] = [];
  for (const pair of url.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    if (!nameMatches(eq === -1 ? pair : pair.slice(0, eq), name)) kept.push(pair);
  }
  const path = url.slice(0, q);
  return kept.length === 0 ? path : `${path}?${kept.join('&')}`;
}

function nameMatches(raw: string, name: string): boolean {
  if (raw === name) return true;
  if (!raw.includes('%') && !raw.includes('+')) return false;
  const decoded = decode(raw);
  return decoded === name;
}

function decode(raw: string): string | typeof AMBIGUOUS {
  const spaced = raw.includes('+') ? raw.replaceAll('+', ' ') : raw;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return AMBIGUOUS;
  }
}
