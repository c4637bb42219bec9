import { createHash } from 'node:crypto';

/** Hex digits kept of the SHA-256: 64 bits, short enough for a metric label. */
const HASH_LENGTH = 16;

/**
 * A stable hash of the data part of a configuration, as `config.updated`
 * reports it: the first 16 hex digits of the SHA-256 of its canonical JSON
 * (object keys sorted, so key order never matters). Only what can be written as
 * data counts: strings, numbers, booleans, `null`, arrays and plain objects.
 * Code (functions, and objects such as a store, an agent or a Buffer) is left
 * out: an object key holding code is skipped, an array element holding code
 * counts as `null` (so the other elements keep their places). Secrets in the
 * data (keys, JWT secrets) go into the digest, never into its output.
 *
 * @example
 * configHash({ routes: [{ path: '/a', target: 'http://a' }] }) ===
 *   configHash({ routes: [{ target: 'http://a', path: '/a' }] }); // true
 */
export function configHash(config: unknown): string {
  const canonical = canonicalJson(config, new Set()) ?? 'null';
  return createHash('sha256').update(canonical).digest('hex').slice(0, HASH_LENGTH);
}

/**
 * The canonical JSON of a data value, or `undefined` for code (and `undefined`). `ancestors`
 * are the objects being serialised around it: a cycle is not data either.
 */
function canonicalJson(value: unknown, ancestors: Set<object>): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      // As JSON: NaN and the infinities are null.
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      // Functions, symbols, bigints and undefined are not data.
      return undefined;
  }
  const object = value as object;
  if (ancestors.has(object)) return undefined;
  let json: string | undefined;
  ancestors.add(object);
  if (Array.isArray(object)) {
    json = `[${object.map((item) => canonicalJson(item, ancestors) ?? 'null').join(',')}]`;
  } else {
    const proto = Object.getPrototypeOf(object);
    if (proto === Object.prototype || proto === null) {
      const record = object as Record<string, unknown>;
      const members: string[] = [];
      for (const key of Object.keys(record).sort()) {
        const member = canonicalJson(record[key], ancestors);
        if (member !== undefined) members.push(`${JSON.stringify(key)}:${member}`);
      }
      json = `{${members.join(',')}}`;
    }
  }
  ancestors.delete(object);
  return json;
}
