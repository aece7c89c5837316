import type { Context, MiddlewareHandler } from 'hono';
import { BrokerError } from '../protocol/errors.js';
import type { Logger } from '../session/types.js';
import type { BrokerStore } from '../store/types.js';
import type { AppEnv, RateLimitConfig, RateLimitRequest } from './types.js';

function requestView(c: Context<AppEnv>, ip: string): RateLimitRequest {
  const headers: Record<string, string> = {};
  c.req.raw.headers.forEach((value, key) => (headers[key.toLowerCase()] = value));
  return { headers, ip, method: c.req.method, url: c.req.url, raw: c.req.raw };
}

/**
 * Fixed-window rate limiting with counters in the store (so several processes share one
 * limit). The default key is the authenticated tenant (or user), else the client IP.
 */
export function rateLimit(
  config: RateLimitConfig,
  store: BrokerStore,
  clientIp: (c: Context<AppEnv>) => string,
  logger: Logger,
): MiddlewareHandler<AppEnv> {
  if (!(config.windowMs > 0) || !(config.maxRequests > 0)) {
    throw new TypeError('rateLimiting needs windowMs > 0 and maxRequests > 0');
  }
  return async (c, next) => {
    const identity = c.get('identity');
    const ip = clientIp(c);
    let key: string | undefined | null;
    try {
      key = config.keyGenerator ? config.keyGenerator(requestView(c, ip)) : undefined;
    } catch (err) {
      logger.warn({ err: String(err) }, 'rateLimiting.keyGenerator threw; using the default key');
    }
    const bucket = key ? `k:${key}` : identity?.tenantId ? `t:${identity.tenantId}` : identity?.userId ? `u:${identity.userId}` : `ip:${ip}`;
    let counter;
    try {
      counter = await store.increment(`rl:${bucket}`, config.windowMs);
    } catch {
      throw new BrokerError('STORE_UNAVAILABLE', 'the rate-limit store cannot be reached', undefined, { 'Retry-After': '1' });
    }
    const resetSeconds = Math.max(0, Math.ceil((counter.resetAt - Date.now()) / 1000));
    const headers = {
      'RateLimit-Limit': String(config.maxRequests),
      'RateLimit-Remaining': String(Math.max(0, config.maxRequests - counter.count)),
      'RateLimit-Reset': String(resetSeconds),
    };
    if (counter.count > config.maxRequests) {
      logger.info({ bucket, path: c.req.path }, 'rate limited');
      throw new BrokerError('RATE_LIMITED', 'too many requests', undefined, { ...headers, 'Retry-After': String(resetSeconds) });
    }
    await next();
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  };
}
