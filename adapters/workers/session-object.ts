import { DurableObject, type DurableObjectState } from 'cloudflare:workers';
import type { Hono } from 'hono';
import { assembleBroker } from '../../src/broker-assembly.js';
import type { AppEnv } from '../../src/http/types.js';
import { InlineExecutor } from '../../src/pool/inline.js';
import { Emitter } from '../../src/session/emitter.js';
import { SessionManager, type CreateSessionInput } from '../../src/session/manager.js';
import type { BrokerEventMap } from '../../src/session/types.js';
import { DurableObjectStore } from '../../src/store/durable-object.js';
import { baseOf, mountAt, sessionIdOf } from './forward.js';
import type { WorkerConfig } from './options.js';

/** Uses the id the Worker chose (the object's name) for the session it creates. */
class WorkerSessionManager extends SessionManager {
  nextId: string | undefined;
  override create(input: CreateSessionInput) {
    return super.create({ ...input, id: input.id ?? this.nextId });
  }
}

interface SessionObjectState {
  manager: WorkerSessionManager;
  /** The object's app under each mount prefix the Worker forwarded from. */
  apps: Map<string, Hono>;
  inner: Hono<AppEnv>;
  /** The OpenAPI actions, loaded before the object's first request (no timers on Workers). */
  catalogReady: Promise<void> | undefined;
}

/**
 * The session object's class: one session, its sandbox (QuickJS inline), its stream, its
 * storage (`DurableObjectStore`) and its alarm. It is built by `assembleBroker`, like
 * `EnclaveBroker`, minus what the Worker does in front of it (authentication, rate limits).
 */
export function sessionObject<Env>(config: WorkerConfig<Env>): new (ctx: DurableObjectState, env: Env) => DurableObject<Env> {
  return class EnclaveSession extends DurableObject<Env> {
    private readonly store: DurableObjectStore;
    private state: SessionObjectState | undefined;

    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env);
      this.store = new DurableObjectStore(ctx.storage);
    }

    override async fetch(request: Request): Promise<Response> {
      const state = (this.state ??= this.build());
      await state.catalogReady;
      const base = baseOf(request);
      let app = state.apps.get(base);
      if (!app) state.apps.set(base, (app = mountAt(base, state.inner)));
      state.manager.nextId = sessionIdOf(request);
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
      const ms = config.resumeCheckMs(this.env);
      if (ms === 0) return;
      const at = Date.now() + ms;
      const current = await this.ctx.storage.getAlarm();
      if (current === null || current > at) await this.ctx.storage.setAlarm(at);
    }

    private build(): SessionObjectState {
      const settings = config.settings(this.env);
      const executor = new InlineExecutor({ wasmModule: config.wasmModule });
      const events = new Emitter<BrokerEventMap>();
      events.on('session:created', () => this.ctx.waitUntil(this.watch().catch(() => {})));
      if (config.counters(this.env)) {
        const release = () =>
          this.ctx.waitUntil(
            config
              .counters(this.env)!
              .release()
              .catch(() => {}),
          );
        events.on('session:completed', release);
        events.on('session:error', release);
      }
      const mcp = settings.mcpServer;
      const module = config.mcpServer;
      const { sessions, catalog, app } = assembleBroker(
        {
          ...settings,
          // The Worker authenticated the request and counted it.
          authentication: undefined,
          rateLimiting: undefined,
          // Each MCP request comes to a new object: the endpoint keeps no MCP sessions.
          mcpServer: mcp && module ? { ...mcp, sessions: false } : undefined,
        },
        {
          store: this.store,
          executor,
          executorStats: () => executor.stats(),
          events,
          instanceId: this.ctx.id.toString(),
          manager: WorkerSessionManager,
          ...(module ? { mcpModule: () => Promise.resolve(module) } : {}),
        },
      );
      // OpenAPI actions become tools of this session's registry, loaded before its first request.
      const catalogReady = settings.openapi
        ? catalog.refresh().then(
            () => undefined,
            () => undefined,
          )
        : undefined;
      return { manager: sessions, apps: new Map<string, Hono>(), inner: app, catalogReady };
    }
  };
}
