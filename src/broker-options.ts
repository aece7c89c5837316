import type { AuthConfig, CorsConfig, RateLimitConfig } from './http/types.js';
import type { Executor } from './pool/executor.js';
import type { RuntimePoolOptions } from './pool/options.js';
import type { BrokerLimits } from './session/limits.js';
import type { Logger } from './logger.js';
import type { BrokerStore } from './store/types.js';
import type { ToolRegistry } from './tools/registry.js';
import type { CallerIdentity, ToolHandler } from './tools/types.js';
import type { EventFilter } from './protocol/events.js';
import type { FetchLike, OpenApiSourceConfig } from './openapi/types.js';
import type { McpOptions } from './mcp/types.js';

export type { RuntimePoolOptions } from './pool/options.js';

/**
 * Anything that looks like an `ioredis` client (`new Redis(url)` type-checks as it is; the
 * store uses what `RedisClient` in `store/redis.ts` lists).
 */
export interface RedisLike {
  duplicate(...args: never[]): unknown;
}

export interface BrokerOptions {
  /** An `ioredis` client: sessions, events and counters live in Redis, shared by processes. */
  redis?: RedisLike;
  /** Any store adapter (memory by default; Upstash, Durable Objects…). Overrides `redis`. */
  store?: BrokerStore;
  /** Lifetime of a session record in ms (default 300000). */
  sessionTimeout?: number;
  /**
   * Sessions this process runs at once (default 1000). Per process: with a shared store each
   * process has its own limit, and `GET /health` counts its own sessions.
   */
  maxConcurrentSessions?: number;
  /**
   * Sessions one tenant (or user, see `authentication`) may run at once on this process
   * (default half of `maxConcurrentSessions`): one tenant's scripts cannot take all of it.
   * Past it that tenant gets 503 TOO_MANY_SESSIONS with Retry-After. Callers without an
   * identity are not counted.
   */
  maxSessionsPerTenant?: number;
  tools?: ToolRegistry;
  /** Serves every tool name the registry does not know. */
  toolHandler?: ToolHandler;
  /** When false, unknown tool names fail with TOOL_NOT_FOUND instead of going to the client. */
  clientTools?: boolean;
  /** Worker-thread pool settings, or `false` to run sandboxes on the calling thread. */
  runtimePool?: RuntimePoolOptions | false;
  /** Where sandboxes run; overrides `runtimePool`. */
  executor?: Executor;
  authentication?: AuthConfig;
  rateLimiting?: RateLimitConfig;
  logger?: Logger;
  /** Broker-wide limits (SPEC §6); requests may only lower them. */
  limits?: Partial<BrokerLimits>;
  /** Largest request body in bytes (default 2 MiB). */
  maxBodyBytes?: number;
  cors?: CorsConfig;
  /** The compiled QuickJS WASM (required on Cloudflare Workers: import it statically). */
  wasmModule?: WebAssembly.Module;
  /** This process's id in a shared store (random by default). */
  instanceId?: string;
  /**
   * TTL in ms of this process's owner lease in a shared store (default 750). When a process
   * dies, another one resumes its durable sessions (or ends them with SESSION_LOST) once its
   * lease lapsed and it has not renewed the session for as long — as soon as a process that
   * follows the session notices (see `ownerWatchMs`), or when a tool result or cancel for it
   * arrives. A process that could not renew within the lease (paused, cut off) learns on its
   * next write that it lost the session and stops its copy (see docs/durability.md).
   */
  ownerLeaseMs?: number;
  /** How often (ms) the owner lease and the hold on each session are renewed (default a third of `ownerLeaseMs`). */
  ownerRenewMs?: number;
  /** How often (ms) a process following another process's session checks its owner's lease (default 25). */
  ownerWatchMs?: number;
  /**
   * With a shared store (Redis, Upstash): journal every session's nondeterministic inputs
   * (tool results, `Date`, `Math.random`) so that when the process running it dies, another
   * process resumes it instead of ending it with SESSION_LOST. Default true; `false` turns it
   * off. Server tools then run at least once (see `ExecutionContext`).
   */
  durable?: boolean;
  /**
   * OpenAPI services whose operations become tools (`GET /code/actions` lists them).
   * `parseYaml` parses specs served as YAML: the `yaml` package by default on Node and Bun; on
   * Workers it is not bundled, so give one (e.g. `parse` from `yaml`) or serve specs as JSON.
   */
  openapi?: { sources: OpenApiSourceConfig[]; fetch?: FetchLike; parseYaml?: (text: string) => unknown };
  /** Serve `GET /openapi.json` and the `GET /docs` page (default true). */
  docs?: boolean;
  /** Serve `GET /metrics` in Prometheus text format (default false). */
  metrics?: boolean;
  /** Include tool argument values in `tool call` log lines (default false: names and outcomes only). */
  logToolArgs?: boolean;
  /**
   * MCP: `server` mounts a Streamable HTTP endpoint (default `/mcp`) serving `execute`,
   * `search` and `describe`; `sources` turns MCP servers' tools into tools `<name>:<tool>`.
   * Needs the optional dependency `@modelcontextprotocol/sdk` (see docs/mcp.md).
   */
  mcp?: McpOptions;
}

/** Options of `broker.execute()`. */
export interface ExecuteOptions {
  timeout?: number;
  maxToolCalls?: number;
  context?: Record<string, unknown>;
  filter?: EventFilter;
  limits?: Partial<BrokerLimits>;
  /** Who runs the code (embedders without HTTP authentication): tenant, user, permissions. */
  identity?: CallerIdentity;
}
