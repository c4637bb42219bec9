import type { FlattenedJWSInput, JWSHeaderParameters, JWTVerifyGetKey } from 'jose';

type Jose = typeof import('jose');
type LocalKeySet = ReturnType<Jose['createLocalJWKSet']>;

/** Timing of the JWKS cache, in milliseconds. */
export interface JwksTiming {
  /** Least time between two fetches. */
  cooldownMs: number;
  /** A fetch that takes longer fails. */
  timeoutMs: number;
  /** Keys older than this are refreshed in the background (the old ones keep working meanwhile). */
  maxAgeMs: number;
}

/**
 * Where a JWT strategy gets the cache of its `jwksUri`. Default: a cache of its own, closed with
 * it. A gateway passes one that hands out the cache it keeps per URI, so the keys survive a
 * configuration update (the newest configuration's timing applies).
 *
 * @example
 * const source: JwksCacheSource = (uri, timing, jose) => caches.acquire(uri, () => new JwksCache(uri, timing, jose), lease);
 */
export type JwksCacheSource = (uri: string, timing: JwksTiming, jose: Promise<Jose>) => JwksCache;

/** The largest JWKS document accepted. */
const MAX_JWKS_BYTES = 512 * 1024;

/** Thrown when no key set could ever be fetched. */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
}

/**
 * A remote JSON Web Key Set, cached. Key selection is jose's
 * (`createLocalJWKSet`: kid, alg, kty, use); fetching is ours:
 *
 * - one fetch at a time, shared by every request waiting for it;
 * - a `kid` that is not in the cached set triggers a refetch only when the
 *   last fetch is at least `cooldownMs` old, so a flood of random `kid`s costs
 *   at most one fetch per cooldown;
 * - every fetch is bounded by `timeoutMs` (and `close()` aborts it);
 * - a failed refresh keeps the last good keys.
 *
 * Keys named in the token itself (`jwk`, `jku`, `x5u`, `x5c`) are never
 * looked at: keys only ever come from the configured URI.
 */
export class JwksCache {
  private keys: LocalKeySet | undefined;
  private fetchedAt = 0;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<boolean> | undefined;
  private readonly closing = new AbortController();
  /** Fetches started (for diagnostics and tests). */
  fetches = 0;

  constructor(
    private readonly uri: string,
    private timing: JwksTiming,
    private readonly jose: Promise<Jose>,
    private readonly now: () => number = Date.now,
  ) {}

  /** A `jwtVerify` key function. */
  readonly getKey: JWTVerifyGetKey = async (
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
  ) => {
    if (this.keys === undefined) await this.refresh();
    else if (this.now() - this.fetchedAt >= this.timing.maxAgeMs) void this.refresh();
    const keys = this.keys;
    if (keys === undefined) throw new JwksUnavailableError('no JSON Web Key Set available');
    try {
      return await keys(header, token);
    } catch (err) {
      if (!isNoMatchingKey(err)) throw err;
      // An unknown kid: maybe the provider rotated. Refetch, unless we did so recently.
      if (!(await this.refresh())) throw err;
      const fresh = this.keys as LocalKeySet;
      return fresh(header, token);
    }
  };

  /** Fetches the set unless a fetch is running (joined) or the cooldown has not passed (false). */
  refresh(): Promise<boolean> {
    if (this.inflight) return this.inflight;
    if (this.closing.signal.aborted) return Promise.resolve(false);
    const now = this.now();
    if (now - this.lastAttempt < this.timing.cooldownMs) return Promise.resolve(false);
    this.lastAttempt = now;
    this.inflight = this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Applies new timing (a configuration update); the cached keys stay. */
  retime(timing: JwksTiming): void {
    this.timing = timing;
  }

  /** Aborts a running fetch; later requests fail without fetching. */
  close(): void {
    this.closing.abort();
  }

  private async fetchKeys(): Promise<boolean> {
    this.fetches++;
    try {
      const jose = await this.jose;
      const signal = AbortSignal.any([
        this.closing.signal,
        AbortSignal.timeout(this.timing.timeoutMs),
      ]);
      const response = await fetch(this.uri, {
        signal,
        redirect: 'error',
        headers: { accept: 'application/jwk-set+json, application/json' },
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        return false;
      }
      const text = await readLimited(response, MAX_JWKS_BYTES);
      if (text === undefined) return false;
      const keys = jose.createLocalJWKSet(JSON.parse(text));
      this.keys = keys;
      this.fetchedAt = this.now();
      return true;
    } catch {
      // Unreachable, slow, malformed: keep the last good keys.
      return false;
    }
  }
}

function isNoMatchingKey(err: unknown): boolean {
  return (
    err !== null &&
    typeof err === 'object' &&
    (err as { code?: unknown }).code === 'ERR_JWKS_NO_MATCHING_KEY'
  );
}

async function readLimited(response: Response, limit: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length'));
  if (declared > limit) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
