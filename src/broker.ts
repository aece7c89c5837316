import type { Hono } from 'hono';
import type { AppEnv } from './http/types.js';
import { randomId } from './protocol/ids.js';
import { compileFilter, type StreamEvent } from './protocol/events.js';
import { executeRequestSchema } from './protocol/schemas.js';
import { BrokerError, errorText } from './protocol/errors.js';
import type { Executor } from './pool/executor.js';
import { InlineExecutor } from './pool/inline.js';
import type { EventCursor } from './session/cursor.js';
import { Emitter } from './session/emitter.js';
import type { BrokerEventMap, SessionInfo } from './session/types.js';
import type { Logger } from './logger.js';
import { MemoryStore } from './store/memory.js';
import { RedisStore } from './store/redis.js';
import type { BrokerStore } from './store/types.js';
import type { CallerIdentity } from './tools/types.js';
import type { BrokerOptions, ExecuteOptions } from './broker-options.js';
import { assembleBroker } from './broker-assembly.js';
import { resolveBrokerOptions } from './broker-settings.js';
import { mcpSources, type McpSourcesHandle } from './mcp/mount.js';
import type { BrokerLimits } from './session/limits.js';
import type { SessionManager } from './session/manager.js';
import type { CatalogHandler } from './openapi/catalog.js';
import type { ToolRegistry } from './tools/registry.js';
import { BrokerMetrics } from './observability/metrics.js';
import { docsRoutes } from './http/routes/docs.js';
import { isServerRuntime, runtime } from './util/runtime.js';
import type { RunningServer } from './util/server.js';

type Fetch = (request: Request, env?: unknown, ctx?: unknown) => Promise<Response>;

/**
 * The broker: sessions, tools, sandboxes and the HTTP API. Serve it with `listen()` (Node,
 * Bun), export its `fetch` (Workers, Bun), or mount `broker.app` in another Hono app.
 */
export class EnclaveBroker extends Emitter<BrokerEventMap> {
  readonly app: Hono<AppEnv>;
  readonly limits: BrokerLimits;
  readonly store: BrokerStore;
  readonly logger: Logger;
  /** The OpenAPI catalog (`GET /code/actions`); its actions are tools of `tools`. */
  readonly catalog: CatalogHandler;
  /** The server tools: the `tools` option's registry, OpenAPI actions included (none: undefined). */
  readonly tools: ToolRegistry | undefined;
  readonly instanceId: string;
  /** In-process counters behind `GET /metrics` (when built with `metrics: true`). */
  readonly metrics: BrokerMetrics | undefined;
  /** The port `listen()` bound (useful with `listen(0)`). */
  port: number | undefined;

  private readonly sessions: SessionManager;
  private currentExecutor: Executor | undefined;
  private server: RunningServer | undefined;
  private starting: Promise<void> | undefined;
  private started = false;
  private closed = false;
  private readonly mcpSources: McpSourcesHandle | undefined;

  constructor(readonly options: BrokerOptions = {}) {
    super();
    const settings = resolveBrokerOptions(options, () => new BrokerMetrics());
    this.logger = settings.logger;
    this.metrics = settings.metrics;
    this.limits = settings.limits;
    this.tools = settings.tools;
    this.instanceId = options.instanceId ?? `i_${randomId(12)}`;
    this.store = options.store ?? (options.redis ? new RedisStore(options.redis as never) : new MemoryStore());
    this.currentExecutor = options.executor;
    const { sessions, catalog, app } = assembleBroker(settings, {
      store: this.store,
      executor: PENDING_EXECUTOR,
      executorStats: () => this.currentExecutor?.stats() ?? { kind: 'starting', active: 0 },
      events: this,
      instanceId: this.instanceId,
      clientIp: (request, env) => this.clientIp?.(request, env),
      ensureReady: () => (this.started ? undefined : this.ready()),
      routes: { docs: docsRoutes },
    });
    this.sessions = sessions;
    this.catalog = catalog;
    this.app = app;
    if (settings.mcpSources.length) {
      this.mcpSources = mcpSources(settings.tools!, settings.mcpSources, {
        logger: this.logger,
        onChange: (change) => sessions.broadcastCatalogChange(change),
      });
    }
  }

  /** Set by the server adapter so rate limiting can key on the client address. */
  clientIp: ((request: Request, env: unknown) => string | undefined) | undefined;

  /** A Web-standard fetch handler (Workers, Bun, any router). */
  readonly fetch: Fetch = async (request, env, ctx) => {
    if (!this.started) await this.ready();
    return this.app.fetch(request, env, ctx as never);
  };

  /** Where sandboxes run: the worker pool on Node and Bun, inline elsewhere. */
  get executor(): Executor | undefined {
    return this.currentExecutor;
  }

  /**
   * Connects the store, starts the sandbox engine (and the worker pool) and loads the OpenAPI
   * sources; `listen()` and the first request call it.
   */
  ready(): Promise<void> {
    this.starting ??= (async () => {
      await this.store.connect();
      await this.sessions.start();
      const executor = (this.currentExecutor ??= await createExecutor(this.options, this.logger));
      this.sessions.setExecutor(executor);
      await executor.warm();
      await this.catalog.start();
      await this.mcpSources?.start();
      this.started = true;
    })();
    this.starting.catch(() => (this.starting = undefined));
    return this.starting;
  }

  /**
   * Starts the HTTP server (Node or Bun). `listen(0)` picks a free port; see `port`. When the
   * server cannot start (a port in use), the broker is closed before the error is thrown, so
   * nothing it started keeps the process alive.
   */
  async listen(port: number, hostname?: string): Promise<void> {
    if (this.server) throw new Error('the broker is already listening');
    if (this.closed) throw new Error('the broker is closed');
    await this.ready();
    const isBun = runtime() === 'bun';
    const specifier = isBun ? './serve.bun.js' : './serve.node.js';
    const mod = (await import(/* @vite-ignore */ specifier)) as {
      serve(fetch: Fetch, port: number, hostname?: string): Promise<RunningServer>;
      clientIp(request: Request, env: unknown): string | undefined;
    };
    this.clientIp ??= mod.clientIp;
    try {
      this.server = await mod.serve(this.fetch, port, hostname);
    } catch (err) {
      // A port in use, a bad address: nothing the broker started (the worker pool, polling, the
      // store's connections) may keep the process alive behind the error.
      await this.close().catch(() => undefined);
      throw err;
    }
    this.port = this.server.port;
    this.logger.info({ port: this.port, store: this.store.name, executor: this.currentExecutor?.kind }, 'broker listening');
  }

  /** Stops accepting requests, ends live sessions with CANCELLED, and releases everything. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const server = this.server;
    this.server = undefined;
    const stopped = server?.close();
    this.catalog.stop();
    await this.mcpSources?.stop();
    await this.sessions.close();
    await stopped;
    await this.currentExecutor?.close();
    await this.store.close();
  }

  /** Runs code and yields its events (no HTTP needed). Breaking out of the loop detaches. */
  execute(code: string, options: ExecuteOptions = {}): AsyncIterable<StreamEvent> {
    return {
      [Symbol.asyncIterator]: () => {
        let cursor: EventCursor | undefined;
        let opening: Promise<EventCursor> | undefined;
        return {
          next: async (): Promise<IteratorResult<StreamEvent>> => {
            cursor ??= await (opening ??= this.open(code, options));
            const event = await cursor.next();
            return event ? { value: event, done: false } : { value: undefined, done: true };
          },
          return: async (): Promise<IteratorResult<StreamEvent>> => {
            (cursor ?? (await opening?.catch(() => undefined)))?.close();
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  async getSession(sessionId: string, identity?: CallerIdentity): Promise<SessionInfo | null> {
    if (typeof sessionId !== 'string') return null;
    try {
      return await this.sessions.info(sessionId, identity);
    } catch (err) {
      if (err instanceof BrokerError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
  }

  /** Answers a client tool call; pass `{ error }` to reject it instead. */
  async submitToolResult(
    sessionId: string,
    callId: string,
    result: unknown,
    options: { error?: { message: string; code?: string }; identity?: CallerIdentity } = {},
  ): Promise<void> {
    sessionIdOf(sessionId);
    if (typeof callId !== 'string') throw new BrokerError('NOT_FOUND', 'no such tool call');
    if (!this.started) await this.ready();
    const input = options.error ? { error: options.error } : { result };
    await this.sessions.submitToolResult(sessionId, callId, input, options.identity);
  }

  /**
   * Approves a call that waits for approval (a tool with `needsApproval`): its handler runs.
   * Throws NOT_FOUND for an unknown session or call, CONFLICT for a call not waiting for
   * approval or a session no longer running.
   */
  async approve(sessionId: string, callId: string, identity?: CallerIdentity): Promise<void> {
    await this.decide(sessionId, callId, { approve: true }, identity);
  }

  /** Rejects a call that waits for approval: it fails in the guest with TOOL_APPROVAL_DENIED and `reason`. */
  async reject(sessionId: string, callId: string, reason?: string, identity?: CallerIdentity): Promise<void> {
    if (reason !== undefined && typeof reason !== 'string') throw new BrokerError('VALIDATION_ERROR', 'the reason must be a string');
    await this.decide(sessionId, callId, reason === undefined ? { approve: false } : { approve: false, reason: reason.slice(0, 4096) }, identity);
  }

  private async decide(sessionId: string, callId: string, decision: { approve: boolean; reason?: string }, identity?: CallerIdentity): Promise<void> {
    sessionIdOf(sessionId);
    if (typeof callId !== 'string') throw new BrokerError('NOT_FOUND', 'no such tool call');
    if (!this.started) await this.ready();
    await this.sessions.submitApproval(sessionId, callId, decision, identity);
  }

  /** Cancels a session; it ends with CANCELLED. */
  async cancel(sessionId: string, identity?: CallerIdentity): Promise<void> {
    await this.sessions.cancel(sessionIdOf(sessionId), identity);
  }

  private async open(code: string, given: ExecuteOptions | null | undefined): Promise<EventCursor> {
    if (this.closed) throw new BrokerError('INTERNAL_ERROR', 'the broker is closed');
    if (given !== undefined && given !== null && typeof given !== 'object') throw new BrokerError('VALIDATION_ERROR', 'the options must be an object');
    const options: ExecuteOptions = given ?? {};
    const parsed = executeRequestSchema.safeParse({ code, ...pick(options) });
    if (!parsed.success) throw new BrokerError('VALIDATION_ERROR', parsed.error.issues.map((i) => i.message).join('; '));
    if (!this.started) await this.ready();
    const limits = { ...options.limits };
    if (options.timeout !== undefined) limits.timeoutMs = Math.min(options.timeout, limits.timeoutMs ?? Infinity);
    if (options.maxToolCalls !== undefined) limits.maxToolCalls = Math.min(options.maxToolCalls, limits.maxToolCalls ?? Infinity);
    const context = options.context === undefined ? undefined : jsonContext(options.context);
    const session = await this.sessions.create({ code, context, limits, identity: options.identity, attached: true });
    return session.readAsCreator(compileFilter(options.filter));
  }

  protected override onError(err: unknown, event: string): void {
    this.logger.error({ event, err: errorText(err) }, 'a broker event listener threw');
  }
}

/**
 * A context from library code as JSON carries it, which is what the guest sees: tool handlers
 * get the same value (a `Date` becomes its ISO string, functions and `undefined` go). A context
 * JSON cannot carry (a `BigInt`, a cycle) or that is not an object is a `VALIDATION_ERROR`.
 * (Over HTTP the context is parsed JSON already.)
 */
function jsonContext(context: unknown): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(JSON.stringify(context) ?? 'null');
  } catch (err) {
    throw new BrokerError('VALIDATION_ERROR', `context must be JSON: ${errorText(err)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BrokerError('VALIDATION_ERROR', 'context must be a JSON object');
  return value as Record<string, unknown>;
}

/** A session id from library code, which types do not guard: anything but a string is no session. */
function sessionIdOf(sessionId: unknown): string {
  if (typeof sessionId !== 'string') throw new BrokerError('NOT_FOUND', 'no such session');
  return sessionId;
}

function pick(options: ExecuteOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['timeout', 'maxToolCalls', 'context', 'filter', 'limits'] as const) {
    if (options[key] !== undefined) out[key] = options[key];
  }
  return out;
}

/** Stands in for the executor until `ready()` chose one; sessions only start after it. */
const PENDING_EXECUTOR: Executor = {
  kind: 'pending',
  start() {
    throw new Error('the broker is not ready');
  },
  warm: async () => {},
  stats: () => ({ kind: 'pending', active: 0 }),
  close: async () => {},
};

/**
 * The worker pool on Node and Bun (with each session's first turn on this thread when
 * `runtimePool.firstTurnMs` is set, see pool/first-turn.ts), unless `runtimePool: false` (or a `wasmModule` was given, as on
 * Workers); sandboxes run inline otherwise. The pool's file is Node-only, so it is
 * imported by a computed specifier that bundlers for other runtimes leave alone.
 */
async function createExecutor(options: BrokerOptions, logger: Logger): Promise<Executor> {
  if (options.runtimePool !== false && !options.wasmModule && isServerRuntime()) {
    const specifier = './pool/default-executor.node.js';
    const { createPoolExecutor } = (await import(/* @vite-ignore */ specifier)) as typeof import('./pool/default-executor.node.js');
    return createPoolExecutor({ ...(options.runtimePool || {}), logger: poolLogger(logger) });
  }
  return new InlineExecutor(options.wasmModule ? { wasmModule: options.wasmModule } : {});
}

function poolLogger(logger: Logger) {
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, data?: Record<string, unknown>) =>
    logger[level]({ component: 'runtime-pool', ...data }, message);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
