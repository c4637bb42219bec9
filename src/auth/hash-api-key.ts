import * as nodeCrypto from 'node:crypto';

type OneShotHash = (algorithm: string, data: string, encoding: 'hex' | 'buffer') => string | Buffer;

/**
 * `crypto.hash` (one call, no Hash object: the cheaper way per request) exists from Node 20.12;
 * earlier Node 20 releases get the same digest through `createHash`.
 */
const oneShot = (nodeCrypto as { hash?: OneShotHash }).hash;

function sha256(data: string, encoding: 'hex'): string;
function sha256(data: string, encoding: 'buffer'): Buffer;
function sha256(data: string, encoding: 'hex' | 'buffer'): string | Buffer {
  if (oneShot !== undefined) return oneShot('sha256', data, encoding);
  const digest = nodeCrypto.createHash('sha256').update(data);
  return encoding === 'hex' ? digest.digest('hex') : digest.digest();
}

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
  return sha256(key, 'hex');
}

/** The raw 32-byte SHA-256 digest of a presented key (one hash per request). */
export function digestApiKey(key: string): Buffer {
  return sha256(key, 'buffer');
}
