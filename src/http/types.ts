import type { Context, Hono } from 'hono';
import type { BrokerMetrics } from '../observability/metrics.js';
import type { SessionManager } from '../session/manager.js';
import type { Logger } from '../logger.js';
import type { BrokerLimits } from '../session/limits.js';
import type { BrokerStore } from '../store/types.js';
import type { CallerIdentity } from '../tools/types.js';

/** Who the request comes from, once authentication ran. */
export interface AuthResult extends CallerIdentity {
  valid: boolean;
}

export interface AuthConfig {
  type: 'bearer' | 'api-key' | 'custom';
  /** Bearer: the bare token; api-key: the header's value; custom: the `Authorization` header. */
  validate: (token: string) => Promise<AuthResult>;
  /** Header that carries the key for `api-key` (default `X-API-Key`). */
  header?: string;
  /** A `validate` slower than this answers 503 (default 5000 ms). */
  timeoutMs?: number;
}

/** The request as `keyGenerator` sees it: plain lower-cased headers, `ip`, and the raw `Request`. */
export interface RateLimitRequest {
  headers: Record<string, string>;
  ip: string;
  method: string;
  url: string;
  raw: Request;
}

export interface RateLimitConfig {
  windowMs: number;
  maxRequests: number;
  keyGenerator?: (req: RateLimitRequest) => string | undefined | null;
}

export interface CorsConfig {
  /** Allowed origins: `*` (default), a list, or a predicate. */
  origin?: string | string[] | ((origin: string) => string | undefined | null);
}

export interface HttpDeps {
  sessions: SessionManager;
  store: BrokerStore;
  /** Load figures of wherever sandboxes run, for `/health`. */
  executorStats: () => unknown;
  limits: BrokerLimits;
  logger: Logger;
  startedAt: number;
  authentication?: AuthConfig;
  rateLimiting?: RateLimitConfig;
  cors?: CorsConfig;
  /** Request bodies larger than this are refused before they are read (413). */
  maxBodyBytes: number;
  /** `GET /code/actions` (the `CatalogHandler`'s route). */
  catalogRoute?: (c: Context<AppEnv>) => Promise<Response>;
  /** How the client address is found (the Node and Bun adapters set it). */
  clientIp?: (request: Request, env: unknown) => string | undefined;
  /** A promise while the broker is still starting (store connection, warm sandbox). */
  ensureReady?: () => Promise<void> | undefined;
  /** Serve `GET /openapi.json` and `GET /docs` (default true). */
  docs?: boolean;
  /** Counters behind `GET /metrics`; the route exists only when set. */
  metrics?: BrokerMetrics;
  /** Mounts the MCP endpoint (`mcp.server`), after the middleware so auth and rate limits apply. */
  mountMcp?: (app: Hono<AppEnv>) => void;
}

export type AppEnv = {
  Variables: {
    identity: CallerIdentity | undefined;
    requestId: string;
  };
};
