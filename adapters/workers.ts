import { DurableObject, type DurableObjectState, type ExecutionContext } from 'cloudflare:workers';
export type { DurableObjectState, ExecutionContext };
import wasm from '@jitl/quickjs-wasmfile-release-sync/wasm';
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import type { BrokerOptions } from '../src/broker-options.js';
import { createApp } from '../src/http/app.js';
import { mcpServerOptions, mountMcpServer, type McpServerModule } from '../src/mcp/mount.js';
import { CatalogHandler } from '../src/openapi/catalog.js';
import { permissionMatcher } from '../src/tools/permissions.js';
import { authenticate } from '../src/http/auth.js';
import { notFound, onError } from '../src/http/errors.js';
import { rateLimit } from '../src/http/rate-limit.js';
import type { AppEnv } from '../src/http/types.js';
import { consoleLogger } from '../src/logger.js';
import { BrokerError } from '../src/protocol/errors.js';
import { isSessionId, newSessionId } from '../src/protocol/ids.js';
import { InlineExecutor } from '../src/pool/inline.js';
import { Emitter } from '../src/session/emitter.js';
import { brokerLimits } from '../src/session/limits.js';
import { SessionManager, type CreateSessionInput } from '../src/session/manager.js';
import { createToolNamespace, createToolResolver } from '../src/session/tool-resolver.js';
import type { BrokerEventMap } from '../src/session/types.js';
import { DurableObjectStore } from '../src/store/durable-object.js';
import type { BrokerStore, CounterResult } from '../src/store/types.js';
import { ToolRegistry } from '../src/tools/registry.js';
import type { CallerIdentity } from '../src/tools/types.js';

export * from '../src/index.js';
export { DurableObjectStore } from '../src/store/durable-object.js';

/** Broker options that make sense on Workers (the store, executor and WASM are the adapter's). */
export type WorkerBrokerOptions = Omit<BrokerOptions, 'store' | 'redis' | 'executor' | 'runtimePool' | 'wasmModule' | 'instanceId'>;

export interface EnclaveWorkerOptions<Env = Record<string, unknown>> {
  /**
   * The tools, or a function building them from the Worker's `env` (called once per Durable
   * Object instance and once per Worker isolate): this is how a tool reaches a binding (KV,
   * D1, a service, a secret), e.g. `tools: (env) => myTools(env.DB)`.
   */
  tools?: ToolRegistry | ((env: Env) => ToolRegistry);
  /** Everything else of `BrokerOptions`, or a function of `env`. */
  broker?: WorkerBrokerOptions | ((env: Env) => WorkerBrokerOptions);
  /** The Durable Object binding of the session class (default `ENCLAVE_SESSION`). */
  sessionBinding?: string;
  /**
   * The Durable Object binding of the counters class (default `ENCLAVE_COUNTERS`). Optional:
   * without it there is no rate limiting, no `maxConcurrentSessions` and `/health` counts 0.
   */
  countersBinding?: string;
  /** The compiled QuickJS WASM (default: the variant's `.wasm`, imported statically). */
  wasmModule?: WebAssembly.Module;
  /**
   * While a session runs, its object keeps an alarm at most this far ahead (ms, default
   * 10000; 0: none): if the object restarts meanwhile (a deploy, an eviction), the alarm
   * resumes the session from its journal even if no request comes first.
   */
  resumeCheckMs?: number | ((env: Env) => number);
  /**
   * The MCP endpoint's code, needed with `broker.mcp.server` (a Worker bundle has no files to
   * load it from): `import * as mcpServer from 'enclave-broker/mcp-server'`. Each MCP request
   * goes to a new session object, so the endpoint is stateless there.
   */
  mcpServer?: McpServerModule;
}

/** What a Durable Object stub of the session class offers the Worker. */
interface NamespaceLike<Stub> {
  idFromName(name: string): unknown;
  get(id: unknown): Stub;
}
interface SessionStub {
  fetch(request: Request): Promise<Response>;
}
export interface CountersStub {
  increment(key: string, windowMs: number): Promise<CounterResult>;
  acquire(max: number): Promise<boolean>;
  release(): Promise<void>;
  stats(): Promise<{ active: number; total: number }>;
}

/** The Worker's handler, its Hono app (for mounting) and the two Durable Object classes. */
export interface EnclaveWorker<Env extends object> {
  worker: EnclaveWorkerHandler<Env>;
  default: EnclaveWorkerHandler<Env>;
  app: Hono<{ Bindings: Env }>;
  /** Bind it as `ENCLAVE_SESSION` (a `new_sqlite_classes` migration). */
  EnclaveSession: new (ctx: DurableObjectState, env: Env) => DurableObject<Env>;
  /** Bind it as `ENCLAVE_COUNTERS` (optional). */
  EnclaveCounters: new (ctx: DurableObjectState, env: Env) => DurableObject<Env> & CountersStub;
}

export interface EnclaveWorkerHandler<Env> {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response>;
  /** Cron trigger: polls the OpenAPI sources. */
  scheduled(controller: unknown, env: Env, ctx: ExecutionContext): void;
}

/** Headers only the Worker sets on requests to a session object (stripped from clients). */
const H_SESSION = 'x-enclave-session-id';
const H_BASE = 'x-enclave-base';
const H_IDENTITY = 'x-enclave-identity';
const INTERNAL = [H_SESSION, H_BASE, H_IDENTITY];

/**
 * Cloudflare Workers adapter: one Durable Object per session.
 *
 * ```ts
 * import { createEnclaveWorker, ToolRegistry } from 'enclave-broker/workers';
 * const tools = new ToolRegistry();
 * tools.register({ name: 'users:get', ... });
 * const { worker, EnclaveSession, EnclaveCounters } = createEnclaveWorker({ tools });
 * export default worker;
 * export { EnclaveSession, EnclaveCounters };   // the classes of the DO bindings
 * ```
 *
 * - The Worker answers `GET /health`, `GET /code/actions` and `OPTIONS` itself. `POST /execute`
 *   and `POST /sessions` get a session id at the Worker and go to the object
 *   `idFromName(sessionId)`; every `/sessions/:id/...` route reaches the same object, so tool
 *   results, cancel and replay need no other routing. `GET /sessions` (listing) has no single
 *   object to ask and answers 501 on Workers.
 * - The session object runs QuickJS inline (the `.wasm` imported statically), streams NDJSON,
 *   and keeps the record and event log in `ctx.storage` (`DurableObjectStore`). Its alarm
 *   deletes everything at `expiresAt`. A client disconnect is noticed on the next write (a
 *   heartbeat, every `heartbeatIntervalMs`), then `disconnectGraceMs` applies.
 * - Authentication runs at the Worker; the identity travels to the object in an internal
 *   header the Worker always overwrites (objects are reachable only through the binding).
 * - Rate-limit counters, `maxConcurrentSessions` and the `/health` session counts live in one
 *   small `EnclaveCounters` object (`idFromName('counters')`): a fixed-window counter per key
 *   and an active/total pair. One object serializes every increment; that is fine for a few
 *   hundred requests a second. Beyond that, shard the key or use the Upstash store for counters.
 * - Tools may be given as a function of `env`, so handlers can use bindings.
 */
export function createEnclaveWorker<Env extends object = Record<string, unknown>>(options: EnclaveWorkerOptions<Env> = {}): EnclaveWorker<Env> {
  const sessionBinding = options.sessionBinding ?? 'ENCLAVE_SESSION';
  const countersBinding = options.countersBinding ?? 'ENCLAVE_COUNTERS';
  const wasmModule = options.wasmModule ?? wasm;
  const resumeCheck = (env: Env): number => {
    const ms = typeof options.resumeCheckMs === 'function' ? options.resumeCheckMs(env) : options.resumeCheckMs;
    return ms === undefined ? 10_000 : Math.max(0, ms);
  };
  const resolve = (env: Env): WorkerBrokerOptions & { tools?: ToolRegistry } => {
    const broker = typeof options.broker === 'function' ? options.broker(env) : (options.broker ?? {});
    const tools = typeof options.tools === 'function' ? options.tools(env) : (options.tools ?? broker.tools);
    return { ...broker, tools };
  };
  const counters = (env: Env): CountersStub | undefined => {
    const ns = (env as Record<string, unknown>)[countersBinding] as NamespaceLike<CountersStub> | undefined;
    return ns ? ns.get(ns.idFromName('counters')) : undefined;
  };

  const startedAt = Date.now();
  let cached: { env: Env; app: Hono<WorkerEnv<Env>> } | undefined;
  const appFor = (env: Env) => {
    if (cached?.env !== env) cached = { env, app: workerApp(env) };
    return cached.app;
  };

  type WorkerEnv<E> = AppEnv & { Bindings: E };

  /** The Worker-level app: health, catalog, CORS, auth, rate limit; everything else forwarded. */
  function workerApp(env: Env): Hono<WorkerEnv<Env>> {
    const opts = resolve(env);
    const logger = opts.logger ?? consoleLogger('warn');
    const app = new Hono<WorkerEnv<Env>>();
    app.onError(onError(logger));
    app.notFound(notFound);
    app.use(
      '*',
      cors({
        origin: opts.cors?.origin ?? '*',
        allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
        allowHeaders: ['Authorization', 'Content-Type', 'Last-Event-ID', 'X-API-Key', 'X-Request-Id', 'Mcp-Session-Id', 'Mcp-Protocol-Version'],
        exposeHeaders: ['X-Session-ID', 'X-Request-Id', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Mcp-Session-Id'],
        maxAge: 600,
      }),
    );
    const open = /\/health$/;
    if (opts.authentication) {
      const auth = authenticate(opts.authentication, logger);
      app.use('*', (c, next) => (open.test(c.req.path) ? next() : auth(c as never, next)));
    }
    // Stubs are I/O objects of the request that made them: one per request.
    const hasCounters = counters(env) !== undefined;
    if (opts.rateLimiting) {
      if (!hasCounters) throw new TypeError(`rateLimiting on Workers needs the ${countersBinding} Durable Object binding`);
      const store = { increment: (key: string, windowMs: number) => counters(env)!.increment(key, windowMs) } as unknown as BrokerStore;
      const ip = (c: Context<WorkerEnv<Env>>) => c.req.header('cf-connecting-ip') ?? c.req.header('x-forwarded-for')?.split(',')[0]?.trim() ?? 'unknown';
      const limit = rateLimit(opts.rateLimiting, store, ip as never, logger);
      app.use('*', (c, next) => (open.test(c.req.path) || c.req.method === 'OPTIONS' ? next() : limit(c as never, next)));
    }

    app.get('/health', async (c) => {
      const counter = counters(env);
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
    const catalog = (catalogs[0] = new CatalogHandler(new ToolRegistry(), opts.openapi?.sources ?? [], {
      ...(opts.openapi?.fetch ? { fetch: opts.openapi.fetch } : {}),
      ...(opts.openapi?.parseYaml ? { parseYaml: opts.openapi.parseYaml } : {}),
      allow: (name, c) => permissionMatcher((c as Context<AppEnv>).get('identity')?.permissions)(name),
      onError: (source, err) => logger.warn({ source, err: err.message }, 'OpenAPI source failed'),
    }));
    app.get('/code/actions', catalog.getRoutes()[0]!.handler as never);
    app.get('/sessions', (c) =>
      c.json({ error: { code: 'NOT_IMPLEMENTED', message: 'listing sessions is not available on Workers (each session is its own object)' } }, 501),
    );

    const sessions = (env as Record<string, unknown>)[sessionBinding] as NamespaceLike<SessionStub> | undefined;
    if (!sessions) throw new TypeError(`the ${sessionBinding} Durable Object binding is missing`);
    const max = opts.maxConcurrentSessions ?? 1000;

    const forward = async (c: Context<WorkerEnv<Env>>, id: string, base: string, body?: BodyInit | null) => {
      const headers = new Headers(c.req.raw.headers);
      for (const h of INTERNAL) headers.delete(h);
      headers.set(H_SESSION, id);
      headers.set(H_BASE, base);
      const identity = c.get('identity');
      if (identity) headers.set(H_IDENTITY, encodeURIComponent(JSON.stringify(identity)));
      const init: RequestInit = { method: c.req.method, headers };
      if (body !== undefined) init.body = body;
      else if (c.req.raw.body) init.body = c.req.raw.body;
      const stub = sessions.get(sessions.idFromName(id));
      return stub.fetch(new Request(c.req.url, init));
    };

    const create = async (c: Context<WorkerEnv<Env>>, suffix: string) => {
      const base = c.req.path.slice(0, c.req.path.length - suffix.length);
      let id = newSessionId();
      let body: string | undefined;
      if (suffix === '/sessions') {
        // Upstream clients may choose the id: read it to find the object.
        body = await c.req.text();
        try {
          const requested = (JSON.parse(body) as { sessionId?: unknown }).sessionId;
          if (typeof requested === 'string' && isSessionId(requested)) id = requested;
        } catch {
          // The session object answers the validation error.
        }
      }
      const counter = counters(env);
      if (counter && !(await counter.acquire(max))) {
        throw new BrokerError('TOO_MANY_SESSIONS', `this broker runs ${max} ${max === 1 ? 'session' : 'sessions'} already`, undefined, { 'Retry-After': '1' });
      }
      let res: Response;
      try {
        res = await forward(c, id, base, body);
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

    const mcp = mcpServerOptions(opts.mcp);
    if (opts.mcp?.sources?.length) throw new TypeError('mcp.sources are not available on Workers');
    if (mcp) {
      if (!options.mcpServer) throw new TypeError("mcp.server on Workers needs createEnclaveWorker({ mcpServer }), from import * as mcpServer from 'enclave-broker/mcp-server'");
      const path = mcp.path ?? '/mcp';
      // Each MCP request goes to a new session object: an `execute` there runs as that session.
      app.all(path, (c) => forward(c, newSessionId(), c.req.path.slice(0, c.req.path.length - path.length)));
    }

    const toSession = (c: Context<WorkerEnv<Env>>) => {
      const id = c.req.param('id') ?? '';
      if (!isSessionId(id)) throw new BrokerError('NOT_FOUND', `no session ${JSON.stringify(id.slice(0, 64))}`);
      const path = c.req.path;
      const base = path.slice(0, path.lastIndexOf(`/sessions/${id}`));
      return forward(c, id, base);
    };
    app.all('/sessions/:id', toSession);
    app.all('/sessions/:id/*', toSession);
    return app;
  }

  /** The Worker's Hono app, for mounting: `outer.route('/enclave', app)`. Needs `c.env`. */
  const app = new Hono<{ Bindings: Env }>();
  app.all('*', (c) => {
    const inner = appFor(c.env);
    // Mounted with `outer.route(prefix, app)`: this route's pattern is `${prefix}/*`.
    const prefix = c.req.routePath.replace(/\/?\*$/, '');
    return prefix ? mounted(inner, prefix).fetch(c.req.raw, c.env, c.executionCtx) : inner.fetch(c.req.raw, c.env, c.executionCtx);
  });

  const mountedApps = new WeakMap<Hono<WorkerEnv<Env>>, Map<string, Hono>>();
  function mounted(inner: Hono<WorkerEnv<Env>>, prefix: string): Hono {
    let byPrefix = mountedApps.get(inner);
    if (!byPrefix) mountedApps.set(inner, (byPrefix = new Map()));
    let outer = byPrefix.get(prefix);
    if (!outer) byPrefix.set(prefix, (outer = new Hono().route(prefix, inner as never)));
    return outer;
  }

  /** The Worker-level catalog of the current app (set when the app is built). */
  const catalogs: CatalogHandler[] = [];

  const worker = {
    fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
      return appFor(env).fetch(request, env, ctx as never);
    },
    /**
     * A cron trigger (`[triggers] crons` in wrangler.toml) polls the OpenAPI sources: Workers
     * have no timers between requests. Session objects load the sources when they start.
     */
    scheduled(_controller: unknown, env: Env, ctx: ExecutionContext): void {
      appFor(env);
      const catalog = catalogs[0];
      if (catalog) ctx.waitUntil(catalog.refresh().then(() => undefined));
    },
  };

  /** One session: its sandbox, stream, storage and alarm. */
  class EnclaveSession extends DurableObject<Env> {
    private readonly store: DurableObjectStore;
    private state:
      | { manager: WorkerSessionManager; apps: Map<string, Hono>; inner: Hono<AppEnv>; catalogReady: Promise<void> | undefined }
      | undefined;

    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env);
      this.store = new DurableObjectStore(ctx.storage);
    }

    override async fetch(request: Request): Promise<Response> {
      const state = (this.state ??= this.build());
      await state.catalogReady;
      const base = request.headers.get(H_BASE) ?? '';
      let app = state.apps.get(base);
      if (!app) state.apps.set(base, (app = mountAt(base, state.inner)));
      state.manager.nextId = request.headers.get(H_SESSION) ?? undefined;
      return app.fetch(request);
    }

    override async alarm(): Promise<void> {
      const alive = await this.store.sweep();
      if (alive === 0) {
        // The alarm is set for expiresAt: a session still running has reached its sessionTimeout.
        await this.state?.manager.close('SESSION_EXPIRED', 'the session reached its sessionTimeout');
        await this.ctx.storage.deleteAll();
        return;
      }
      const running = await this.store.runningSessions();
      if (running.length === 0) return;
      // A session still running that this object does not run: the object restarted. Resume it.
      const state = (this.state ??= this.build());
      await state.catalogReady;
      for (const record of running) await state.manager.recover(record.id);
      if (state.manager.active > 0) await this.watch();
    }

    /** Keeps the alarm at most `resumeCheckMs` ahead while a session runs (see the option). */
    private async watch(): Promise<void> {
      const ms = resumeCheck(this.env);
      if (ms === 0) return;
      const at = Date.now() + ms;
      const current = await this.ctx.storage.getAlarm();
      if (current === null || current > at) await this.ctx.storage.setAlarm(at);
    }

    private build() {
      const opts = resolve(this.env);
      const logger = opts.logger ?? consoleLogger('warn');
      const limits = brokerLimits(opts.limits);
      const store = this.store;
      const executor = new InlineExecutor({ wasmModule });
      // OpenAPI actions become tools of this session's registry, loaded before its first request.
      const tools = opts.tools ?? (opts.openapi ? new ToolRegistry() : undefined);
      const catalogReady = opts.openapi
        ? new CatalogHandler(tools!, opts.openapi.sources, {
            ...(opts.openapi.fetch ? { fetch: opts.openapi.fetch } : {}),
            ...(opts.openapi.parseYaml ? { parseYaml: opts.openapi.parseYaml } : {}),
            onError: (source, err) => logger.warn({ source, err: err.message }, 'OpenAPI source failed'),
          })
            .refresh()
            .then(() => undefined, () => undefined)
        : undefined;
      const events = new Emitter<BrokerEventMap>();
      events.on('session:created', () => this.ctx.waitUntil(this.watch().catch(() => {})));
      if (counters(this.env)) {
        const release = () => this.ctx.waitUntil(counters(this.env)!.release().catch(() => {}));
        events.on('session:completed', release);
        events.on('session:error', release);
      }
      const manager = new WorkerSessionManager({
        store,
        executor,
        resolveTool: createToolResolver({ ...opts, tools }),
        toolNamespace: createToolNamespace(tools),
        events,
        logger,
        limits,
        sessionTimeoutMs: opts.sessionTimeout ?? 300_000,
        maxConcurrentSessions: opts.maxConcurrentSessions ?? 1000,
        instanceId: this.ctx.id.toString(),
      });
      const inner = createApp({
        sessions: manager,
        store,
        executorStats: () => executor.stats(),
        limits,
        logger,
        startedAt: Date.now(),
        cors: opts.cors,
        maxBodyBytes: opts.maxBodyBytes ?? 2 * 1024 * 1024,
        mountMcp: (app) => {
          const mcp = mcpServerOptions(opts.mcp);
          const module = options.mcpServer;
          if (!mcp || !module) return;
          const deps = { sessions: manager, logger, tools: () => tools?.list() ?? [], maxBodyBytes: opts.maxBodyBytes ?? 2 * 1024 * 1024 };
          mountMcpServer(app, deps, { ...mcp, sessions: false }, () => Promise.resolve(module));
        },
      });
      return { manager, apps: new Map<string, Hono>(), inner, catalogReady };
    }
  }

  /** Counters for rate limiting and session counts (one object, `idFromName('counters')`). */
  class EnclaveCounters extends DurableObject<Env> {
    private readonly store: DurableObjectStore;
    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env);
      this.store = new DurableObjectStore(ctx.storage);
    }
    increment(key: string, windowMs: number): Promise<CounterResult> {
      return this.store.increment(key, windowMs);
    }
    async acquire(max: number): Promise<boolean> {
      const s = await this.stats();
      if (s.active >= max) return false;
      await this.ctx.storage.put({ 'sessions:active': s.active + 1, 'sessions:total': s.total + 1 });
      return true;
    }
    async release(): Promise<void> {
      const active = (await this.ctx.storage.get<number>('sessions:active')) ?? 0;
      await this.ctx.storage.put('sessions:active', Math.max(0, active - 1));
    }
    async stats(): Promise<{ active: number; total: number }> {
      const active = (await this.ctx.storage.get<number>('sessions:active')) ?? 0;
      const total = (await this.ctx.storage.get<number>('sessions:total')) ?? 0;
      return { active, total };
    }
    override async alarm(): Promise<void> {
      await this.store.sweep();
    }
  }

  return { worker, default: worker, app, EnclaveSession, EnclaveCounters };
}

/** Uses the id the Worker chose (the object's name) for the session it creates. */
class WorkerSessionManager extends SessionManager {
  nextId: string | undefined;
  override create(input: CreateSessionInput) {
    return super.create({ ...input, id: input.id ?? this.nextId });
  }
}

/** The session object's app under the Worker's mount prefix, with the identity the Worker sent. */
function mountAt(base: string, inner: Hono<AppEnv>): Hono {
  const outer = new Hono<AppEnv>();
  outer.use('*', async (c, next) => {
    const raw = c.req.header(H_IDENTITY);
    c.set('identity', raw ? (JSON.parse(decodeURIComponent(raw)) as CallerIdentity) : undefined);
    await next();
  });
  return outer.route(base || '/', inner) as unknown as Hono;
}
