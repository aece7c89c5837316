import { MemoryStore } from '../../src/store/memory.js';
import { storeContract } from './contract.js';

// One process: the "other" store of a test is the same instance, as the broker would share it.
const stores = new Map<number | undefined, MemoryStore>();

storeContract('memory', {
  async create(options) {
    const max = options?.maxEventsPerSession;
    let store = stores.get(max);
    if (!store) stores.set(max, (store = new MemoryStore({ maxEventsPerSession: max })));
    return store;
  },
});
