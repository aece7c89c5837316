export { EnclaveBroker } from './broker.js';
export type { BrokerOptions, ExecuteOptions, RuntimePoolOptions, RedisLike } from './broker-options.js';
export { ToolRegistry } from './tools/registry.js';
export type {
  CallerIdentity,
  ExecutionContext,
  ParameterDef,
  ParameterType,
  ToolDefinition,
  ToolHandler,
} from './tools/types.js';
export { createApp } from './http/app.js';
export type { AuthConfig, AuthResult, CorsConfig, RateLimitConfig, RateLimitRequest } from './http/types.js';
export type { BrokerEventMap, SessionError, SessionInfo, SessionInfo as Session } from './session/types.js';
export type { Logger } from './logger.js';
export type { BrokerLimits } from './session/limits.js';
export { DEFAULT_LIMITS } from './session/limits.js';
export { consoleLogger } from './logger.js';
export { MemoryStore } from './store/memory.js';
export { RedisStore } from './store/redis.js';
export { UpstashStore } from './store/upstash.js';
export { CatalogHandler } from './openapi/catalog.js';
export type {
  CatalogAction,
  CatalogResponse,
  CatalogService,
  OpenApiSourceConfig,
} from './openapi/types.js';
export type { McpHttpSourceConfig, McpOptions, McpServedTool, McpServerOptions, McpSourceConfig, McpStdioSourceConfig } from './mcp/types.js';
export type {
  BrokerStore,
  Counters,
  PendingCalls,
  PubSub,
  SessionJournal,
  SessionLeases,
  SessionLog,
  SessionRecord,
  SessionStatus,
  StoreLifecycle,
} from './store/types.js';
export type { Executor, ExecutorStats } from './pool/executor.js';
export { InlineExecutor } from './pool/inline.js';
export * from './protocol/index.js';
