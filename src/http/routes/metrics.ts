import type { Hono } from 'hono';
import type { AppEnv, HttpDeps } from '../types.js';

/** `GET /metrics`: Prometheus text format, this process's counters (broker option `metrics: true`). */
export function metricsRoute(app: Hono<AppEnv>, deps: HttpDeps): void {
  const metrics = deps.metrics;
  if (!metrics) return;
  app.get('/metrics', (c) => c.body(metrics.render(deps.sessions.active), 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }));
}
