import { Hono } from 'hono';
import { installMiddleware } from './middleware.js';
import { executeRoutes } from './routes/execute.js';
import { healthRoute } from './routes/health.js';
import { sessionRoutes } from './routes/sessions.js';
import { docsRoutes } from './routes/docs.js';
import { metricsRoute } from './routes/metrics.js';
import type { AppEnv, HttpDeps } from './types.js';

/** The broker's Hono app: every route of SPEC §4, mountable under any prefix. */
export function createApp(deps: HttpDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  installMiddleware(app, {
    ...deps,
    counters: deps.store,
    // `/health`, and the docs page (a static shell holding no data), skip auth and rate limits.
    openPaths: deps.docs === false ? /\/health$/ : /\/(?:health|docs)$/,
  });

  healthRoute(app, deps);
  executeRoutes(app, deps);
  sessionRoutes(app, deps);
  if (deps.catalogRoute) app.get('/code/actions', deps.catalogRoute);
  if (deps.docs !== false) docsRoutes(app, deps);
  metricsRoute(app, deps);
  deps.mountMcp?.(app);
  return app;
}
