import { Hono, type Context } from 'hono';
import { createCatalog } from '../../src/broker-assembly.js';
import { installMiddleware } from '../../src/http/middleware.js';
import { readBodyText } from '../../src/http/body.js';
import type { AppEnv } from '../../src/http/types.js';
import type { CatalogHandler } from '../../src/openapi/catalog.js';
import { BrokerError } from '../../src/protocol/errors.js';
import { isSessionId, newSessionId } from '../../src/protocol/ids.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { forward } from './forward.js';
import type { WorkerConfig } from './options.js';

/** The Worker's own app for one `env`, and its catalog (which the cron trigger refreshes). */
export interface FrontDoor {
  app: Hono<AppEnv>;
  catalog: CatalogHandler;
}

/**
 * The Worker-level app: the broker's middleware chain (the same as `createApp`'s: CORS, request
 * ids, error observation, the body drain, rate limiting before and after authentication), then
 * `/health`, `/code/actions` and the session routes, which go to the session's object.
 */
export function frontDoor<Env>(env: Env, config: WorkerConfig<Env>, startedAt: number): FrontDoor {
  const settings = config.settings(env);
  const counters = () => config.counters(env);
  if (settings.rateLimiting && !counters()) throw new TypeError(`rateLimiting on Workers needs the ${config.countersBinding} Durable Object binding`);
  const sessions = config.sessions(env);
  if (settings.mcpSources.length) throw new TypeError('mcp.sources are not available on Workers');
  const mcp = settings.mcpServer;
  if (mcp && !config.mcpServer) {
    throw new TypeError("mcp.server on Workers needs createEnclaveWorker({ mcpServer }), from import * as mcpServer from 'enclave-broker/mcp-server'");
  }

  const app = new Hono<AppEnv>();
  installMiddleware(app, {
    logger: settings.activityLogger,
    cors: settings.cors,
    maxBodyBytes: settings.maxBodyBytes,
    authentication: settings.authentication,
    rateLimiting: settings.rateLimiting,
    // Stubs are I/O objects of the request that made them: one per request.
    counters: { increment: (key, windowMs) => counters()!.increment(key, windowMs) },
    clientIp: (request) => request.headers.get('cf-connecting-ip') ?? undefined,
    // The Worker serves no docs page: only `/health` is open.
    openPaths: /\/health$/,
  });

  app.get('/health', async (c) => {
    const counter = counters();
    return c.json({
      status: 'ok' as const,
      uptime: Math.round((Date.now() - startedAt) / 1000),
      sessions: counter ? await counter.stats() : { active: 0, total: 0 },
      pool: { kind: 'durable-object', active: 0, modules: 0 },
      store: 'durable-object',
    });
  });
  // The catalog for listing only (its own registry): sessions load actions in their object.
  // No timers on Workers: the route loads the sources on first use; call `refresh()` from a
  // cron trigger to poll.
  const catalog = createCatalog(settings, new ToolRegistry());
  app.get('/code/actions', catalog.getRoutes()[0]!.handler);
  app.get('/sessions', (c) =>
    c.json({ error: { code: 'NOT_IMPLEMENTED', message: 'listing sessions is not available on Workers (each session is its own object)' } }, 501),
  );

  const max = settings.maxConcurrentSessions;
  const create = async (c: Context<AppEnv>, suffix: string) => {
    const base = c.req.path.slice(0, c.req.path.length - suffix.length);
    let id = newSessionId();
    let body: string | undefined;
    if (suffix === '/sessions') {
      // Upstream clients may choose the id: read it to find the object (under the body limit).
      body = await readBodyText(c, settings.maxBodyBytes);
      try {
        const requested = (JSON.parse(body) as { sessionId?: unknown }).sessionId;
        if (typeof requested === 'string' && isSessionId(requested)) id = requested;
      } catch {
        // The session object answers the validation error.
      }
    }
    const counter = counters();
    if (counter && !(await counter.acquire(max))) {
      throw new BrokerError('TOO_MANY_SESSIONS', `this broker runs ${max} ${max === 1 ? 'session' : 'sessions'} already`, undefined, { 'Retry-After': '1' });
    }
    let res: Response;
    try {
      res = await forward(c, sessions, id, base, body);
    } catch (err) {
      if (counter) c.executionCtx.waitUntil(counter.release());
      throw err;
    }
    // No session was created (validation, conflict…): give the slot back.
    if (counter && res.status !== 200) c.executionCtx.waitUntil(counter.release());
    return res;
  };
  app.post('/execute', (c) => create(c, '/execute'));
  app.post('/sessions', (c) => create(c, '/sessions'));

  if (mcp) {
    const path = mcp.path ?? '/mcp';
    // Each MCP request goes to a new session object: an `execute` there runs as that session.
    app.all(path, (c) => forward(c, sessions, newSessionId(), c.req.path.slice(0, c.req.path.length - path.length)));
  }

  const toSession = (c: Context<AppEnv>) => {
    const id = c.req.param('id') ?? '';
    if (!isSessionId(id)) throw new BrokerError('NOT_FOUND', `no session ${JSON.stringify(id.slice(0, 64))}`);
    const path = c.req.path;
    const base = path.slice(0, path.lastIndexOf(`/sessions/${id}`));
    return forward(c, sessions, id, base);
  };
  app.all('/sessions/:id', toSession);
  app.all('/sessions/:id/*', toSession);
  return { app, catalog };
}

/**
 * The Worker's Hono app for mounting (`outer.route('/enclave', app)`): it serves the front door
 * of `c.env`, under the prefix it was mounted at.
 */
export function mountableFrontDoor<Env extends object>(appFor: (env: Env) => Hono<AppEnv>): Hono<{ Bindings: Env }> {
  const mountedApps = new WeakMap<Hono<AppEnv>, Map<string, Hono>>();
  const mounted = (inner: Hono<AppEnv>, prefix: string): Hono => {
    let byPrefix = mountedApps.get(inner);
    if (!byPrefix) mountedApps.set(inner, (byPrefix = new Map()));
    let outer = byPrefix.get(prefix);
    if (!outer) byPrefix.set(prefix, (outer = new Hono().route(prefix, inner as never)));
    return outer;
  };
  const app = new Hono<{ Bindings: Env }>();
  app.all('*', (c) => {
    const inner = appFor(c.env);
    // Mounted with `outer.route(prefix, app)`: this route's pattern is `${prefix}/*`.
    const prefix = c.req.routePath.replace(/\/?\*$/, '');
    return prefix ? mounted(inner, prefix).fetch(c.req.raw, c.env, c.executionCtx) : inner.fetch(c.req.raw, c.env, c.executionCtx);
  });
  return app;
}
