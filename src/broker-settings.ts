import type { BrokerOptions } from './broker-options.js';
import { validateBrokerOptions } from './broker-validate.js';
import type { AuthConfig, CorsConfig, RateLimitConfig } from './http/types.js';
import { consoleLogger, guardLogger } from './logger.js';
import { mcpServerOptions } from './mcp/mount.js';
import type { McpServerOptions, McpSourceConfig } from './mcp/types.js';
import { observeLogger } from './observability/logger.js';
import type { BrokerMetrics } from './observability/metrics.js';
import type { FetchLike, OpenApiSourceConfig } from './openapi/types.js';
import { brokerLimits, type BrokerLimits } from './session/limits.js';
import type { Logger } from './logger.js';
import { ToolRegistry } from './tools/registry.js';
import type { ToolHandler } from './tools/types.js';

/** The defaults of `BrokerOptions` (docs/options.md), applied in one place: `resolveBrokerOptions`. */
export const BROKER_DEFAULTS = {
  sessionTimeoutMs: 300_000,
  maxConcurrentSessions: 1000,
  maxBodyBytes: 2 * 1024 * 1024,
  logLevel: 'warn',
} as const;

/** `BrokerOptions` checked and with every default applied: what the broker is built from. */
export interface BrokerSettings {
  /** The user's logger (the console at `warn` by default), guarded: a logger that throws fails nothing. */
  logger: Logger;
  /** What sessions and routes log through: it feeds `metrics` and lets tool arguments through (`logToolArgs`). */
  activityLogger: Logger;
  metrics: BrokerMetrics | undefined;
  limits: BrokerLimits;
  sessionTimeoutMs: number;
  maxConcurrentSessions: number;
  maxSessionsPerTenant: number;
  maxBodyBytes: number;
  /** The server tools: the `tools` option, or a registry of their own when OpenAPI or MCP sources add tools. */
  tools: ToolRegistry | undefined;
  toolHandler: ToolHandler | undefined;
  clientTools: boolean | undefined;
  authentication: AuthConfig | undefined;
  rateLimiting: RateLimitConfig | undefined;
  cors: CorsConfig | undefined;
  docs: boolean;
  openapi: { sources: OpenApiSourceConfig[]; fetch?: FetchLike; parseYaml?: (text: string) => unknown } | undefined;
  /** The MCP endpoint (`mcp.server`), or undefined when none is mounted. */
  mcpServer: McpServerOptions | undefined;
  mcpSources: readonly McpSourceConfig[];
  ownerLeaseMs: number | undefined;
  ownerRenewMs: number | undefined;
  ownerWatchMs: number | undefined;
  durable: boolean | undefined;
}

/**
 * Checks `options` (a `TypeError` naming the option that cannot work) and applies the defaults.
 * `EnclaveBroker` and the Workers adapter both build from what it returns. With `metrics: true`
 * the counters come from `createMetrics`, which runtimes that serve `GET /metrics` pass (the
 * Workers adapter does not serve it, and its bundle does not carry them).
 */
export function resolveBrokerOptions(options: BrokerOptions, createMetrics?: () => BrokerMetrics): BrokerSettings {
  validateBrokerOptions(options);
  const logger = guardLogger(options.logger ?? consoleLogger(BROKER_DEFAULTS.logLevel));
  const metrics = options.metrics ? createMetrics?.() : undefined;
  const maxConcurrentSessions = options.maxConcurrentSessions ?? BROKER_DEFAULTS.maxConcurrentSessions;
  const mcpSources = options.mcp?.sources ?? [];
  return {
    logger,
    activityLogger: metrics || options.logToolArgs ? observeLogger(logger, { metrics, logToolArgs: options.logToolArgs }) : logger,
    metrics,
    limits: brokerLimits(options.limits),
    sessionTimeoutMs: options.sessionTimeout ?? BROKER_DEFAULTS.sessionTimeoutMs,
    maxConcurrentSessions,
    maxSessionsPerTenant: options.maxSessionsPerTenant ?? Math.max(1, Math.ceil(maxConcurrentSessions / 2)),
    maxBodyBytes: options.maxBodyBytes ?? BROKER_DEFAULTS.maxBodyBytes,
    tools: options.tools ?? (options.openapi || mcpSources.length ? new ToolRegistry() : undefined),
    toolHandler: options.toolHandler,
    clientTools: options.clientTools,
    authentication: options.authentication,
    rateLimiting: options.rateLimiting,
    cors: options.cors,
    docs: options.docs !== false,
    openapi: options.openapi,
    mcpServer: mcpServerOptions(options.mcp),
    mcpSources,
    ownerLeaseMs: options.ownerLeaseMs,
    ownerRenewMs: options.ownerRenewMs,
    ownerWatchMs: options.ownerWatchMs,
    durable: options.durable,
  };
}
