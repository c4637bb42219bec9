import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * Password hashes for Basic users, made with scrypt from `node:crypto`:
 *
 * `scrypt$<N>$<r>$<p>$<salt>$<hash>` — N, r, p in decimal, salt (16 bytes) and
 * hash (32 bytes) in base64url without padding.
 */
const PREFIX = 'scrypt';
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Defaults: N = 2^14, r = 8, p = 1 (about 16 MiB and a few tens of ms per check). */
export const DEFAULT_SCRYPT = { N: 16_384, r: 8, p: 1 } as const;
const MAX_N = 1 << 20;
const MAX_MEMORY_BYTES = 256 * 1024 * 1024;

/** A parsed password hash. */
export interface PasswordHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/**
 * Hashes a password for `basic.users[].passwordHash`, with scrypt and a
 * random 16-byte salt. Default cost: N = 16384, r = 8, p = 1. The result has
 * the form `scrypt$16384$8$1$<salt>$<hash>` (base64url).
 *
 * @example
 * const passwordHash = hashPassword('correct horse battery staple');
 * authenticate({ basic: { users: [{ username: 'ops', passwordHash }] } });
 */
export function hashPassword(password: string): string {
  if (typeof password !== 'string' || password.length === 0) {
    throw new TypeError('hashPassword: the password must be a non-empty string');
  }
  const { N, r, p } = DEFAULT_SCRYPT;
  const salt = randomBytes(SALT_BYTES);
  const derived = scryptSync(password, salt, HASH_BYTES, { N, r, p, maxmem: maxMemory(N, r, p) });
  return [PREFIX, N, r, p, salt.toString('base64url'), derived.toString('base64url')].join('$');
}

/**
 * Parses a hash made by {@link hashPassword}; `undefined` when it is not one
 * (or its cost parameters are out of the accepted range).
 */
export function parsePasswordHash(value: string): PasswordHash | undefined {
  const parts = value.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) return undefined;
  const N = decimal(parts[1]);
  const r = decimal(parts[2]);
  const p = decimal(parts[3]);
  if (N === undefined || r === undefined || p === undefined) return undefined;
  if (N < 2 || N > MAX_N || (N & (N - 1)) !== 0) return undefined;
  if (r < 1 || r > 32 || p < 1 || p > 16 || 128 * N * r > MAX_MEMORY_BYTES) return undefined;
  const salt = base64url(parts[4]);
  const hash = base64url(parts[5]);
  if (!salt || !hash || salt.length < 8 || hash.length < 16) return undefined;
  return { N, r, p, salt, hash };
}

/** Checks a password against a parsed hash, off the main thread, in constant time. */
export function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const { N, r, p, salt, hash } = stored;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, hash.length, { N, r, p, maxmem: maxMemory(N, r, p) }, (err, derived) => {
      if (err) reject(err);
      else resolve(timingSafeEqual(derived, hash));
    });
  });
}

/** A hash of a random password with the default cost, checked for unknown users so they cost the same. */
export function dummyPasswordHash(): PasswordHash {
  return parsePasswordHash(hashPassword(randomBytes(16).toString('base64url'))) as PasswordHash;
}

function maxMemory(N: number, r: number, p: number): number {
  return 128 * r * (N + p + 2) + 1024 * 1024;
}

function decimal(text: string | undefined): number | undefined {
  if (text === undefined || text.length === 0 || text.length > 8) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return Number(text);
}

function base64url(text: string | undefined): Buffer | undefined {
  if (text === undefined || text.length === 0) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok =
      (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
    if (!ok) return undefined;
  }
  return Buffer.from(text, 'base64url');
}
