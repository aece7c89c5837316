import type { BrokerOptions } from './broker-options.js';

const AUTH_TYPES = new Set(['bearer', 'api-key', 'custom']);

function positive(name: string, value: unknown, allowZero = false): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
}

/** Refuses options that cannot work, with a message naming the option. */
export function validateBrokerOptions(options: BrokerOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('EnclaveBroker options must be an object');
  positive('sessionTimeout', options.sessionTimeout);
  positive('maxConcurrentSessions', options.maxConcurrentSessions);
  positive('maxSessionsPerTenant', options.maxSessionsPerTenant);
  positive('ownerLeaseMs', options.ownerLeaseMs);
  positive('ownerRenewMs', options.ownerRenewMs);
  positive('ownerWatchMs', options.ownerWatchMs);
  positive('maxBodyBytes', options.maxBodyBytes);
  if (options.tools !== undefined && typeof (options.tools as { get?: unknown }).get !== 'function') {
    throw new TypeError('tools must be a ToolRegistry');
  }
  if (options.toolHandler !== undefined && typeof options.toolHandler !== 'function') {
    throw new TypeError('toolHandler must be a function');
  }
  const auth = options.authentication;
  if (auth !== undefined) {
    if (!auth || !AUTH_TYPES.has(auth.type)) throw new TypeError("authentication.type must be 'bearer', 'api-key' or 'custom'");
    if (typeof auth.validate !== 'function') throw new TypeError('authentication.validate must be a function');
  }
  const rl = options.rateLimiting;
  if (rl !== undefined) {
    positive('rateLimiting.windowMs', rl.windowMs);
    positive('rateLimiting.maxRequests', rl.maxRequests);
    if (rl.windowMs === undefined || rl.maxRequests === undefined) {
      throw new TypeError('rateLimiting needs windowMs and maxRequests');
    }
    if (rl.keyGenerator !== undefined && typeof rl.keyGenerator !== 'function') {
      throw new TypeError('rateLimiting.keyGenerator must be a function');
    }
  }
  const pool = options.runtimePool;
  if (pool) {
    for (const key of ['minSize', 'maxSize', 'scaleInterval'] as const) positive(`runtimePool.${key}`, pool[key], key === 'minSize');
    for (const key of ['scaleUpThreshold', 'scaleDownThreshold'] as const) {
      const v = pool[key];
      if (v !== undefined && (typeof v !== 'number' || v < 0 || v > 1)) throw new TypeError(`runtimePool.${key} must be between 0 and 1`);
    }
    if (pool.minSize !== undefined && pool.maxSize !== undefined && pool.minSize > pool.maxSize) {
      throw new TypeError('runtimePool.minSize must not exceed maxSize');
    }
  }
}
