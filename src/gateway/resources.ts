import { JwksCache, type JwksCacheSource } from '../auth/jwks.js';
import { createEmitter } from '../events.js';
import { Upstreams } from '../route/upstreams.js';
import { MemoryStore } from '../stores/memory-store.js';
import { type Lease, Registry } from './registry.js';

/** The one key of the gateway's own store in its registry. */
const OWN_STORE = 'memory-store';

/**
 * What a gateway keeps across configuration updates, each piece keyed by a
 * stable identity so that a compiled configuration only points at it (through
 * its {@link Lease}):
 *
 * - `upstreams`: the send queue, and per route (`name`, else `path`) and
 *   target URL the target's passive health and keep-alive agent;
 * - the JWKS cache of each `jwksUri`;
 * - the gateway's own `MemoryStore`, used by every policy while the
 *   configuration names no `store` of its own.
 *
 * A piece goes when the last configuration holding it is released (after its
 * last in-flight request); `close()` releases everything at once.
 *
 * @example
 * const resources = new GatewayResources();
 * const lease = new Lease();
 * const store = resources.ownStore(lease);
 * await resources.close();
 */
export class GatewayResources {
  readonly upstreams = new Upstreams(createEmitter(undefined));
  private readonly jwksCaches = new Registry<JwksCache>((cache) => cache.close());
  private readonly stores = new Registry<MemoryStore>((store) => store.close());

  /**
   * Hands out the kept cache of a `jwksUri` (made on first use), held by `lease`. A kept cache
   * takes the new configuration's timing only once that configuration is swapped in: `onSwap`
   * collects what to do then (a rejected configuration leaves the serving one untouched).
   */
  jwksCacheSource(lease: Lease, onSwap: (apply: () => void) => void): JwksCacheSource {
    return (uri, timing, jose) => {
      const cache = this.jwksCaches.acquire(uri, () => new JwksCache(uri, timing, jose), lease);
      onSwap(() => cache.retime(timing));
      return cache;
    };
  }

  /** The gateway's own MemoryStore (made on first use), held by `lease`. */
  ownStore(lease: Lease): MemoryStore {
    return this.stores.acquire(OWN_STORE, () => new MemoryStore(), lease);
  }

  /** Whether the gateway's own MemoryStore exists now (some configuration holds it). */
  hasOwnStore(): boolean {
    return this.stores.peek(OWN_STORE) !== undefined;
  }

  /** Releases everything: agents destroyed, JWKS fetches aborted, the own store closed. */
  async close(): Promise<void> {
    await Promise.all([this.upstreams.close(), this.jwksCaches.close(), this.stores.close()]);
  }
}
