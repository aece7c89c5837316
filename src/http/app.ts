import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { authenticate } from './auth.js';
import { notFound, onError } from './errors.js';
import { rateLimit } from './rate-limit.js';
import { executeRoutes } from './routes/execute.js';
import { healthRoute } from './routes/health.js';
import { sessionRoutes } from './routes/sessions.js';
import type { AppEnv, HttpDeps } from './types.js';

const OPEN_PATHS = /\/health$/;

/** The broker's Hono app: every route of SPEC §4, mountable under any prefix. */
export function createApp(deps: HttpDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError(onError(deps.logger));
  app.notFound(notFound);
  if (deps.ensureReady) {
    const ensureReady = deps.ensureReady;
    app.use('*', async (_c, next) => {
      const starting = ensureReady();
      if (starting) await starting;
      await next();
    });
  }

  app.use(
    '*',
    cors({
      origin: deps.cors?.origin ?? '*',
      allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'X-API-Key', 'X-Request-Id'],
      exposeHeaders: ['X-Session-ID', 'X-Request-Id', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'],
      maxAge: 600,
    }),
  );
  app.use('*', requestId({ headerName: 'X-Request-Id' }));

  const clientIp = (c: Context<AppEnv>): string => deps.clientIp?.(c.req.raw, c.env) ?? c.req.header('x-forwarded-for')?.split(',')[0]?.trim() ?? 'unknown';
  if (deps.authentication) {
    const auth = authenticate(deps.authentication, deps.logger);
    app.use('*', (c, next) => (OPEN_PATHS.test(c.req.path) ? next() : auth(c, next)));
  }
  if (deps.rateLimiting) {
    const limit = rateLimit(deps.rateLimiting, deps.store, clientIp, deps.logger);
    app.use('*', (c, next) => (OPEN_PATHS.test(c.req.path) || c.req.method === 'OPTIONS' ? next() : limit(c, next)));
  }

  healthRoute(app, deps);
  executeRoutes(app, deps);
  sessionRoutes(app, deps);
  if (deps.catalogRoute) app.get('/code/actions', deps.catalogRoute);
  return app;
}
