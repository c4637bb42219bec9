import { MemoryStore } from '../../src/stores/memory-store.js';
import { runStoreConformance } from '../conformance/store-conformance.js';

runStoreConformance('MemoryStore', async () => {
  const store = new MemoryStore();
  return { store, close: () => store.close() };
});
