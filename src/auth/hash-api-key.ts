import { hash } from 'node:crypto';

/**
 * The SHA-256 digest of an API key, as 64 lower-case hex characters. Store
 * this instead of the key itself and configure it as `{ id, hash }`: the
 * gateway hashes each presented key and compares digests in constant time.
 *
 * @example
 * // Hash once, offline, and keep only the digest in your configuration:
 * const digest = hashApiKey('the-key'); // 64 hex characters
 * authenticate({ apiKey: { keys: [{ id: 'alice', hash: hashApiKey('the-key') }] } });
 */
export function hashApiKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new TypeError('hashApiKey: the key must be a non-empty string');
  }
  return hash('sha256', key, 'hex');
}

/** The raw 32-byte SHA-256 digest of a presented key (one hash per request). */
export function digestApiKey(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}
