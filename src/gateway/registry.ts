/**
 * Long-lived state that outlives one compiled configuration (target health and
 * keep-alive agents, JWKS caches, the gateway's own MemoryStore) sits in
 * registries keyed by a stable identity; a configuration only holds leases on
 * the entries it uses. An entry is disposed of when the last lease on it is
 * released, i.e. once no configuration that is current or still serving a
 * request uses it (STYLE §7: "Parse, then compile, then serve").
 */

/**
 * What one compiled configuration holds on shared entries: released all at once when the
 * configuration is retired and its last in-flight request has ended (or when compiling it failed).
 *
 * @example
 * const lease = new Lease();
 * const agent = agents.acquire('users\nhttp://a:8080/', () => new Agent(), lease);
 * lease.release(); // the agent is destroyed unless another lease still holds it
 */
export class Lease {
  private releases: Array<() => void> = [];
  private released = false;

  /** Adds `release`, run once when this lease is released (at once if it already was). */
  hold(release: () => void): void {
    if (this.released) release();
    else this.releases.push(release);
  }

  /** Runs every release once; later calls do nothing. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const releases = this.releases;
    this.releases = [];
    for (const release of releases) release();
  }
}

interface Entry<V> {
  readonly value: V;
  refs: number;
}

/**
 * A map of shared values by key, counted by the leases that hold them. `dispose`
 * releases a value no lease holds any more (destroys an agent, aborts a fetch,
 * closes a store); it may return a promise, which {@link Registry.close} awaits.
 *
 * @example
 * const caches = new Registry<JwksCache>((cache) => cache.close());
 * const cache = caches.acquire(uri, () => new JwksCache(uri, timing, jose), lease);
 */
export class Registry<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly disposing = new Set<Promise<void>>();

  constructor(private readonly dispose: (value: V) => void | Promise<void>) {}

  /**
   * The value under `key`, made by `create` when there is none. With a lease, the value is held
   * until that lease is released; without one it is held until {@link Registry.close}.
   */
  acquire(key: string, create: () => V, lease?: Lease): V {
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { value: create(), refs: 0 };
      this.entries.set(key, entry);
    }
    const held = entry;
    if (lease === undefined) {
      held.refs = Number.POSITIVE_INFINITY;
    } else {
      held.refs++;
      lease.hold(() => this.release(key, held));
    }
    return held.value;
  }

  /** The value under `key` if some lease holds it, without taking a lease. */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** How many values are held (for tests and diagnostics). */
  get size(): number {
    return this.entries.size;
  }

  /** Disposes of every value, held or not, and waits for disposals still running. */
  async close(): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const entry of entries) this.disposeOf(entry.value);
    await Promise.all(this.disposing);
  }

  private release(key: string, entry: Entry<V>): void {
    entry.refs--;
    if (entry.refs > 0 || this.entries.get(key) !== entry) return;
    this.entries.delete(key);
    this.disposeOf(entry.value);
  }

  private disposeOf(value: V): void {
    let result: void | Promise<void>;
    try {
      result = this.dispose(value);
    } catch {
      // Releasing is best effort: one failed disposal must not keep the others.
      return;
    }
    if (result instanceof Promise) {
      const settled: Promise<void> = result.then(
        () => {
          this.disposing.delete(settled);
        },
        () => {
          this.disposing.delete(settled);
        },
      );
      this.disposing.add(settled);
    }
  }
}
