import type { Context, MiddlewareHandler } from 'hono';
import { BrokerError, errorText } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import { storeUnavailable } from '../store/errors.js';
import type { Counters } from '../store/types.js';
import type { AppEnv, RateLimitConfig, RateLimitRequest } from './types.js';

function requestView(c: Context<AppEnv>, ip: string): RateLimitRequest {
  const headers: Record<string, string> = {};
  c.req.raw.headers.forEach((value, key) => (headers[key.toLowerCase()] = value));
  return { headers, ip, method: c.req.method, url: c.req.url, raw: c.req.raw };
}

export interface RateLimiter {
  /** Counts a request that passed authentication (key: keyGenerator, tenant, user, IP). */
  middleware: MiddlewareHandler<AppEnv>;
  /**
   * Before authentication: a 429 for a key (keyGenerator's, else the client IP) that this
   * process saw go over the limit with refused credentials, so guessing stops being checked.
   */
  blocked(c: Context<AppEnv>): BrokerError | undefined;
  /** Counts a request whose credentials were refused; its headers, or a 429 to throw. */
  refused(c: Context<AppEnv>): Promise<{ headers: Record<string, string> } | { error: BrokerError }>;
}

const MAX_BLOCKED = 10_000;

/**
 * Fixed-window rate limiting with counters in the store (so several processes share one
 * limit). The default key is the authenticated tenant (or user), else the client IP.
 * Requests with refused credentials count against the keyGenerator's key, else the IP.
 */
export function createRateLimiter(config: RateLimitConfig, store: Counters, clientIp: (c: Context<AppEnv>) => string, logger: Logger): RateLimiter {
  if (!(config.windowMs > 0) || !(config.maxRequests > 0)) {
    throw new TypeError('rateLimiting needs windowMs > 0 and maxRequests > 0');
  }
  /** Buckets over the limit after refused credentials: bucket → reset time (epoch ms). */
  const blockedUntil = new Map<string, number>();

  const generated = (c: Context<AppEnv>, ip: string): string | undefined => {
    if (!config.keyGenerator) return undefined;
    try {
      const key = config.keyGenerator(requestView(c, ip));
      return typeof key === 'string' && key !== '' ? key : undefined;
    } catch (err) {
      logger.warn({ err: errorText(err) }, 'rateLimiting.keyGenerator threw; using the default key');
      return undefined;
    }
  };

  const anonymousBucket = (c: Context<AppEnv>): string => {
    const ip = clientIp(c);
    const key = generated(c, ip);
    return key !== undefined ? `k:${key}` : `ip:${ip}`;
  };

  type Counted = { headers: Record<string, string>; exhausted: boolean; resetAt: number } | { error: BrokerError; resetAt: number };
  const count = async (bucket: string, path: string): Promise<Counted> => {
    let counter;
    try {
      counter = await store.increment(`rl:${bucket}`, config.windowMs);
    } catch {
      throw storeUnavailable('the rate-limit store cannot be reached');
    }
    const resetSeconds = Math.max(1, Math.ceil((counter.resetAt - Date.now()) / 1000));
    const headers = {
      'RateLimit-Limit': String(config.maxRequests),
      'RateLimit-Remaining': String(Math.max(0, config.maxRequests - counter.count)),
      'RateLimit-Reset': String(resetSeconds),
    };
    if (counter.count > config.maxRequests) {
      logger.info({ bucket, path }, 'rate limited');
      const error = new BrokerError('RATE_LIMITED', 'too many requests', undefined, { ...headers, 'Retry-After': String(resetSeconds) });
      return { error, resetAt: counter.resetAt };
    }
    return { headers, exhausted: counter.count >= config.maxRequests, resetAt: counter.resetAt };
  };

  const middleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const identity = c.get('identity');
    const ip = clientIp(c);
    const key = generated(c, ip);
    const bucket =
      key !== undefined
        ? `k:${key}`
        : identity?.tenantId !== undefined
          ? `t:${identity.tenantId}`
          : identity?.userId !== undefined
            ? `u:${identity.userId}`
            : `ip:${ip}`;
    const counted = await count(bucket, c.req.path);
    if ('error' in counted) throw counted.error;
    // Prepared before the route runs, so the route's answer is built with them.
    for (const [k, v] of Object.entries(counted.headers)) c.header(k, v);
    await next();
  };

  return {
    middleware,
    blocked(c) {
      if (blockedUntil.size === 0) return undefined;
      const bucket = anonymousBucket(c);
      const until = blockedUntil.get(bucket);
      if (until === undefined) return undefined;
      const seconds = Math.ceil((until - Date.now()) / 1000);
      if (seconds <= 0) {
        blockedUntil.delete(bucket);
        return undefined;
      }
      return new BrokerError('RATE_LIMITED', 'too many requests', undefined, {
        'RateLimit-Limit': String(config.maxRequests),
        'RateLimit-Remaining': '0',
        'RateLimit-Reset': String(seconds),
        'Retry-After': String(seconds),
      });
    },
    async refused(c) {
      const bucket = anonymousBucket(c);
      const counted = await count(bucket, c.req.path);
      // Once the window is used up, further guesses are refused before `validate` runs.
      if ('error' in counted || counted.exhausted) {
        if (blockedUntil.size >= MAX_BLOCKED) {
          const now = Date.now();
          for (const [b, until] of blockedUntil) if (until <= now) blockedUntil.delete(b);
          if (blockedUntil.size >= MAX_BLOCKED) blockedUntil.delete(blockedUntil.keys().next().value!);
        }
        blockedUntil.set(bucket, counted.resetAt);
      }
      return 'error' in counted ? { error: counted.error } : { headers: counted.headers };
    },
  };
}
