import { Hono, type Context } from 'hono';
import { requestId } from 'hono/request-id';
import { authenticate } from './auth.js';
import { drainUnread } from './body.js';
import { cors } from './cors.js';
import { notFound, onError } from './errors.js';
import { createRateLimiter } from './rate-limit.js';
import { BrokerError } from '../protocol/errors.js';
import { executeRoutes } from './routes/execute.js';
import { healthRoute } from './routes/health.js';
import { sessionRoutes } from './routes/sessions.js';
import { docsRoutes } from './routes/docs.js';
import { metricsRoute } from './routes/metrics.js';
import { observeHttp } from './observe.js';
import type { AppEnv, HttpDeps } from './types.js';

/** The broker's Hono app: every route of SPEC §4, mountable under any prefix. */
export function createApp(deps: HttpDeps): Hono<AppEnv> {
  // `/health`, and the docs page (a static shell holding no data), skip auth and rate limits.
  const OPEN_PATHS = deps.docs === false ? /\/health$/ : /\/(?:health|docs)$/;
  const app = new Hono<AppEnv>();
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
  const limiter = deps.rateLimiting ? createRateLimiter(deps.rateLimiting, deps.store, clientIp, deps.logger) : undefined;
  if (deps.authentication) {
    const auth = authenticate(deps.authentication, deps.logger);
    app.use('*', async (c, next) => {
      if (OPEN_PATHS.test(c.req.path) || c.req.method === 'OPTIONS') return next();
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
    app.use('*', (c, next) => (OPEN_PATHS.test(c.req.path) || c.req.method === 'OPTIONS' ? next() : limiter.middleware(c, next)));
  }

  healthRoute(app, deps);
  executeRoutes(app, deps);
  sessionRoutes(app, deps);
  if (deps.catalogRoute) app.get('/code/actions', deps.catalogRoute);
  if (deps.docs !== false) docsRoutes(app, deps);
  metricsRoute(app, deps);
  deps.mountMcp?.(app);
  return app;
}
