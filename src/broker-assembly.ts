import type { Context, Hono } from 'hono';
import type { BrokerSettings } from './broker-settings.js';
import { buildApp, type OptionalRoutes } from './http/app.js';
import type { AppEnv, HttpDeps } from './http/types.js';
import { mountMcpServer, type McpServerModule } from './mcp/mount.js';
import { CatalogHandler } from './openapi/catalog.js';
import type { Executor } from './pool/executor.js';
import type { Emitter } from './session/emitter.js';
import { SessionManager, type SessionManagerOptions } from './session/manager.js';
import { createToolNamespace, createToolResolver } from './session/tool-resolver.js';
import type { BrokerEventMap } from './session/types.js';
import type { BrokerStore } from './store/types.js';
import { permissionMatcher } from './tools/permissions.js';
import { ToolRegistry } from './tools/registry.js';

/** What differs between the places a broker runs: each runtime gives these. */
export interface AssemblyParts<M extends SessionManager = SessionManager> {
  store: BrokerStore;
  /** Where sandboxes run (a stand-in until `ready()` on Node and Bun). */
  executor: Executor;
  /** Load figures of wherever sandboxes run, for `/health`. */
  executorStats: () => unknown;
  events: Emitter<BrokerEventMap>;
  /** This process's (or Durable Object's) id in the store. */
  instanceId: string;
  /** The session manager's class (the Workers session object uses one that takes the id its Worker chose). */
  manager?: new (
    options: SessionManagerOptions,
  ) => M;
  /** How the client address is found (the Node and Bun servers set it). */
  clientIp?: (request: Request, env: unknown) => string | undefined;
  /** A promise while the broker is still starting. */
  ensureReady?: () => Promise<void> | undefined;
  /** Loads the MCP endpoint's code (default: from the package's files, at the first MCP request). */
  mcpModule?: () => Promise<McpServerModule>;
  /** The routes a runtime serves beyond SPEC §4's (the docs page; not on Workers). */
  routes?: OptionalRoutes;
}

/** A broker's working parts, built by `assembleBroker`. */
export interface BrokerAssembly<M extends SessionManager = SessionManager> {
  sessions: M;
  /** The OpenAPI catalog (`GET /code/actions`); its actions become tools of `settings.tools`. */
  catalog: CatalogHandler;
  app: Hono<AppEnv>;
}

/**
 * Builds the session manager, the OpenAPI catalog and the Hono app from resolved settings: the
 * one assembly of `EnclaveBroker` (Node, Bun, any fetch runtime) and of the Workers session
 * object. Nothing starts here: the caller connects the store and loads the catalog.
 */
export function assembleBroker<M extends SessionManager = SessionManager>(settings: BrokerSettings, parts: AssemblyParts<M>): BrokerAssembly<M> {
  const { tools, activityLogger } = settings;
  const catalog = createCatalog(settings, tools ?? new ToolRegistry());
  const Manager = parts.manager ?? (SessionManager as new (options: SessionManagerOptions) => M);
  const sessions = new Manager({
    store: parts.store,
    executor: parts.executor,
    resolveTool: createToolResolver(settings),
    toolNamespace: createToolNamespace(tools),
    events: parts.events,
    logger: activityLogger,
    limits: settings.limits,
    sessionTimeoutMs: settings.sessionTimeoutMs,
    maxConcurrentSessions: settings.maxConcurrentSessions,
    maxSessionsPerTenant: settings.maxSessionsPerTenant,
    instanceId: parts.instanceId,
    ...(settings.ownerLeaseMs !== undefined ? { ownerLeaseMs: settings.ownerLeaseMs } : {}),
    ...(settings.ownerRenewMs !== undefined ? { ownerRenewMs: settings.ownerRenewMs } : {}),
    ...(settings.ownerWatchMs !== undefined ? { ownerWatchMs: settings.ownerWatchMs } : {}),
    ...(settings.durable !== undefined ? { durable: settings.durable } : {}),
  });
  catalog.onChange((change) => sessions.broadcastCatalogChange(change));
  const mcp = settings.mcpServer;
  const http: HttpDeps = {
    sessions,
    store: parts.store,
    executorStats: parts.executorStats,
    limits: settings.limits,
    logger: activityLogger,
    startedAt: Date.now(),
    catalogRoute: catalog.getRoutes()[0]!.handler,
    authentication: settings.authentication,
    rateLimiting: settings.rateLimiting,
    cors: settings.cors,
    maxBodyBytes: settings.maxBodyBytes,
    ...(parts.clientIp ? { clientIp: parts.clientIp } : {}),
    ...(parts.ensureReady ? { ensureReady: parts.ensureReady } : {}),
    docs: settings.docs,
    metrics: settings.metrics,
    mountMcp:
      mcp &&
      ((app) =>
        mountMcpServer(app, { sessions, logger: activityLogger, tools: () => tools?.list() ?? [], maxBodyBytes: settings.maxBodyBytes }, mcp, parts.mcpModule)),
  };
  return { sessions, catalog, app: buildApp(http, parts.routes ?? {}) };
}

/**
 * The OpenAPI catalog of `settings.openapi` over `registry` (its actions become tools there):
 * `GET /code/actions` lists what the caller's permissions allow; a source that fails is logged.
 */
export function createCatalog(settings: BrokerSettings, registry: ToolRegistry): CatalogHandler {
  const { openapi, logger } = settings;
  return new CatalogHandler(registry, openapi?.sources ?? [], {
    ...(openapi?.fetch ? { fetch: openapi.fetch } : {}),
    ...(openapi?.parseYaml ? { parseYaml: openapi.parseYaml } : {}),
    allow: (name, c) => permissionMatcher((c as Context<AppEnv>).get('identity')?.permissions)(name),
    onError: (source, err) => logger.warn({ source, err: err.message }, 'OpenAPI source failed'),
  });
}
