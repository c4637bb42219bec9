/**
 * `T` with exactly one of the keys `K` present: the public type of options
 * whose schema is one object with a "one of these" refinement (a JWT's key
 * source, an API key's `key` or `hash`, a RedisStore's `client` or
 * `sendCommand`), so TypeScript refuses two of them before anything runs.
 *
 * @example
 * type Source = ExactlyOne<{ a?: string; b?: string; c?: number }, 'a' | 'b'>;
 * // { a: string; b?: never; c?: number } | { b: string; a?: never; c?: number }
 */
export type ExactlyOne<T, K extends keyof T> = {
  [P in K]: Omit<T, K> & Required<Pick<T, P>> & Partial<Record<Exclude<K, P>, never>>;
}[K];
