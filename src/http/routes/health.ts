import type { Hono } from 'hono';
import type { AppEnv, HttpDeps } from '../types.js';

/** `GET /health`: the reference's shape; `uptime` in seconds; counts are this process's. */
export function healthRoute(app: Hono<AppEnv>, deps: HttpDeps): void {
  app.get('/health', (c) =>
    c.json({
      status: 'ok' as const,
      uptime: Math.round((Date.now() - deps.startedAt) / 1000),
      sessions: { active: deps.sessions.active, total: deps.sessions.totalCreated },
      pool: deps.executorStats(),
      store: deps.store.name,
    }),
  );
}
