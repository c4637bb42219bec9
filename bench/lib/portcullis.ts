// Loads portcullis from the repository's source (through tsx), so the benchmark measures the
// code as it is now. While a part is still being written the import fails; callers then report
// the scenario as unavailable instead of crashing.

type Portcullis = typeof import('../../src/index.js');
type PortcullisMetrics = typeof import('../../src/metrics/index.js');

/** Thrown when a part cannot be loaded yet; its message says why. */
export class Unavailable extends Error {}

export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

/** The public entry point, src/index.ts (everything createGateway needs). */
export async function loadPortcullis(): Promise<Portcullis> {
  try {
    return await import('../../src/index.js');
  } catch (err) {
    throw new Unavailable(`portcullis cannot be imported from src/ yet: ${firstLine(err)}`);
  }
}

/** The `portcullis/metrics` entry point, src/metrics/index.ts (loads prom-client). */
export async function loadMetrics(): Promise<PortcullisMetrics> {
  try {
    return await import('../../src/metrics/index.js');
  } catch (err) {
    throw new Unavailable(`portcullis/metrics cannot be imported from src/ yet: ${firstLine(err)}`);
  }
}

const STORE_FILES = {
  MemoryStore: '../../src/stores/memory-store.js',
  RedisStore: '../../src/stores/redis-store.js',
} as const;

/**
 * One store class: from src/index.ts when it loads, else straight from its own file in
 * src/stores/ (the same class index.ts re-exports), so the store benchmarks run before the
 * rest of the library is in place.
 */
export async function loadStore<K extends keyof typeof STORE_FILES>(
  name: K,
): Promise<Portcullis[K]> {
  try {
    return (await import('../../src/index.js'))[name];
  } catch {
    try {
      // The specifier is a variable so tsc does not require the file to exist yet; the module
      // exports the class under the same name index.ts re-exports it by.
      const file = new URL(STORE_FILES[name], import.meta.url).href;
      const mod = (await import(file)) as Pick<Portcullis, K>;
      return mod[name];
    } catch (err) {
      throw new Unavailable(
        `portcullis ${name} cannot be imported from src/ yet: ${firstLine(err)}`,
      );
    }
  }
}
