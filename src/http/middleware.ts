import type { Context, Hono } from 'hono';
import { requestId } from 'hono/request-id';
import type { BrokerMetrics } from '../observability/metrics.js';
import { BrokerError } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import type { BrokerStore } from '../store/types.js';
import { authenticate } from './auth.js';
import { drainUnread } from './body.js';
import { cors } from './cors.js';
import { notFound, onError } from './errors.js';
import { observeHttp } from './observe.js';
import { createRateLimiter } from './rate-limit.js';
import type { AppEnv, AuthConfig, CorsConfig, RateLimitConfig } from './types.js';

/** What the broker's middleware needs: the same on every runtime and in every front door. */
export interface MiddlewareDeps {
  logger: Logger;
  /** Counts error answers by code (`GET /metrics`), when set. */
  metrics?: BrokerMetrics | undefined;
  cors?: CorsConfig | undefined;
  /** A request body nothing read is drained up to this size (see `drainUnread`). */
  maxBodyBytes: number;
  authentication?: AuthConfig | undefined;
  rateLimiting?: RateLimitConfig | undefined;
  /** Where the rate-limit counters live (required with `rateLimiting`). */
  counters?: Pick<BrokerStore, 'increment'> | undefined;
  /** The client address, when the server knows it (else the first `X-Forwarded-For`, else `unknown`). */
  clientIp?: ((request: Request, env: unknown) => string | undefined) | undefined;
  /** Paths neither authenticated nor counted (`/health`, the docs page). */
  openPaths: RegExp;
  /** A promise while the broker is still starting: requests wait for it. */
  ensureReady?: (() => Promise<void> | undefined) | undefined;
}

/**
 * Installs the broker's error handlers and middleware on `app`, in this order: the drain of
 * unread bodies (outermost), readiness, CORS, request ids, the observation of error answers,
 * then rate limiting and authentication. A key that went over the limit with refused
 * credentials is refused before `validate` runs, and every refused credential is counted
 * (against the `keyGenerator`'s key, else the client address); an authenticated request counts
 * against its tenant, user or key. `createApp` and the Workers front door both run this chain.
 */
export function installMiddleware(app: Hono<AppEnv>, deps: MiddlewareDeps): void {
  const open = deps.openPaths;
  app.onError(onError(deps.logger));
  app.notFound(notFound);
  // Outermost: a body nothing read (a refusal before the route, a route that takes none) is
  // read and dropped before the answer goes out (see drainUnread).
  app.use('*', async (c, next) => {
    await next();
    await drainUnread(c, deps.maxBodyBytes);
  });
  if (deps.ensureReady) {
    const ensureReady = deps.ensureReady;
    app.use('*', async (_c, next) => {
      const starting = ensureReady();
      if (starting) await starting;
      await next();
    });
  }

  app.use('*', cors(deps.cors, deps.logger));
  app.use('*', requestId({ headerName: 'X-Request-Id' }));
  app.use('*', observeHttp(deps.logger, deps.metrics));

  const clientIp = (c: Context<AppEnv>): string => deps.clientIp?.(c.req.raw, c.env) ?? c.req.header('x-forwarded-for')?.split(',')[0]?.trim() ?? 'unknown';
  let limiter: ReturnType<typeof createRateLimiter> | undefined;
  if (deps.rateLimiting) {
    if (!deps.counters) throw new TypeError('rateLimiting needs a store for its counters');
    limiter = createRateLimiter(deps.rateLimiting, deps.counters, clientIp, deps.logger);
  }
  if (deps.authentication) {
    const auth = authenticate(deps.authentication, deps.logger);
    app.use('*', async (c, next) => {
      if (open.test(c.req.path) || c.req.method === 'OPTIONS') return next();
      if (!limiter) return auth(c, next);
      const blocked = limiter.blocked(c);
      if (blocked) throw blocked;
      try {
        await auth(c, next);
      } catch (err) {
        // Errors of later handlers are answered inside `next`: this one is the refusal.
        if (!(err instanceof BrokerError) || err.code !== 'UNAUTHORIZED') throw err;
        const counted = await limiter.refused(c);
        if ('error' in counted) throw counted.error;
        throw new BrokerError(err.code, err.message, err.details, { ...err.headers, ...counted.headers });
      }
    });
  }
  if (limiter) {
    const { middleware } = limiter;
    app.use('*', (c, next) => (open.test(c.req.path) || c.req.method === 'OPTIONS' ? next() : middleware(c, next)));
  }
}
