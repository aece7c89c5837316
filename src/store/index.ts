export type * from './types.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { StoreUnavailableError, isStoreUnavailable } from './errors.js';
export { LuaStore, type LuaStoreOptions } from './lua-store.js';
export { RedisStore, type RedisStoreOptions, type RedisClient } from './redis.js';
export { UpstashStore, type UpstashStoreOptions, type UpstashClient } from './upstash.js';
export type { RemoteStoreOptions } from './remote.js';
