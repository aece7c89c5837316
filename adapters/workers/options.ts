import type { DurableObject, DurableObjectState, ExecutionContext } from 'cloudflare:workers';
import type { Hono } from 'hono';
import type { BrokerOptions } from '../../src/broker-options.js';
import { resolveBrokerOptions, type BrokerSettings } from '../../src/broker-settings.js';
import type { McpServerModule } from '../../src/mcp/mount.js';
import type { CounterResult } from '../../src/store/types.js';
import type { ToolRegistry } from '../../src/tools/registry.js';

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

/** What a Durable Object namespace binding offers the Worker. */
export interface NamespaceLike<Stub> {
  idFromName(name: string): unknown;
  get(id: unknown): Stub;
}
export interface SessionStub {
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
  EnclaveSession: new (
    ctx: DurableObjectState,
    env: Env,
  ) => DurableObject<Env>;
  /** Bind it as `ENCLAVE_COUNTERS` (optional). */
  EnclaveCounters: new (
    ctx: DurableObjectState,
    env: Env,
  ) => DurableObject<Env> & CountersStub;
}

export interface EnclaveWorkerHandler<Env> {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response>;
  /** Cron trigger: polls the OpenAPI sources. */
  scheduled(controller: unknown, env: Env, ctx: ExecutionContext): void;
}

/** `EnclaveWorkerOptions` with its defaults applied, and what it gives for one `env`. */
export interface WorkerConfig<Env> {
  sessionBinding: string;
  countersBinding: string;
  wasmModule: WebAssembly.Module;
  mcpServer: McpServerModule | undefined;
  /** The broker's settings for `env` (`resolveBrokerOptions` of `broker` and `tools`). */
  settings(env: Env): BrokerSettings;
  /** `resumeCheckMs` for `env` (default 10000, never negative). */
  resumeCheckMs(env: Env): number;
  /** The session objects' namespace (a `TypeError` when the binding is missing). */
  sessions(env: Env): NamespaceLike<SessionStub>;
  /** The counters object, or undefined without its binding. A stub belongs to the request that made it: one per request. */
  counters(env: Env): CountersStub | undefined;
}

export function workerConfig<Env>(options: EnclaveWorkerOptions<Env>, defaultWasm: WebAssembly.Module): WorkerConfig<Env> {
  const sessionBinding = options.sessionBinding ?? 'ENCLAVE_SESSION';
  const countersBinding = options.countersBinding ?? 'ENCLAVE_COUNTERS';
  const binding = <T>(env: Env, name: string) => (env as Record<string, unknown>)[name] as T | undefined;
  return {
    sessionBinding,
    countersBinding,
    wasmModule: options.wasmModule ?? defaultWasm,
    mcpServer: options.mcpServer,
    settings(env) {
      const broker = typeof options.broker === 'function' ? options.broker(env) : (options.broker ?? {});
      const tools = typeof options.tools === 'function' ? options.tools(env) : (options.tools ?? broker.tools);
      // No `/metrics` on Workers (each isolate and object would count on its own): no counters.
      return resolveBrokerOptions({ ...broker, tools });
    },
    resumeCheckMs(env) {
      const ms = typeof options.resumeCheckMs === 'function' ? options.resumeCheckMs(env) : options.resumeCheckMs;
      return ms === undefined ? 10_000 : Math.max(0, ms);
    },
    sessions(env) {
      const ns = binding<NamespaceLike<SessionStub>>(env, sessionBinding);
      if (!ns) throw new TypeError(`the ${sessionBinding} Durable Object binding is missing`);
      return ns;
    },
    counters(env) {
      const ns = binding<NamespaceLike<CountersStub>>(env, countersBinding);
      return ns ? ns.get(ns.idFromName('counters')) : undefined;
    },
  };
}
