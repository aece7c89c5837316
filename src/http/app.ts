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
  return buildApp(deps, { docs: docsRoutes });
}

/**
 * Routes a build may leave out, so a bundle that never serves them does not carry their code
 * (the Workers session object: the Worker in front of it serves no docs page).
 */
export interface OptionalRoutes {
  /** `GET /openapi.json` and `GET /docs` (served unless `deps.docs` is false). */
  docs?: (app: Hono<AppEnv>, deps: HttpDeps) => void;
}

/** `createApp` with only the optional routes given. */
export function buildApp(deps: HttpDeps, routes: OptionalRoutes): Hono<AppEnv> {
  const docs = deps.docs !== false ? routes.docs : undefined;
  const app = new Hono<AppEnv>();
  installMiddleware(app, {
    ...deps,
    counters: deps.store,
    // `/health`, and the docs page (a static shell holding no data), skip auth and rate limits.
    openPaths: docs ? /\/(?:health|docs)$/ : /\/health$/,
  });

  healthRoute(app, deps);
  executeRoutes(app, deps);
  sessionRoutes(app, deps);
  if (deps.catalogRoute) app.get('/code/actions', deps.catalogRoute);
  docs?.(app, deps);
  metricsRoute(app, deps);
  deps.mountMcp?.(app);
  return app;
}
