export type * from './types.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
