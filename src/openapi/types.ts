/** Types of OpenAPI sources, the actions built from them and the catalog (`GET /code/actions`). */

/** The `fetch` the OpenAPI layer uses; injectable for tests and custom transports. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** One OpenAPI service whose operations become actions. */
export interface OpenApiSourceConfig {
  /** Service name: the prefix of its action names (`<name>_<operationId>`). */
  name: string;
  /** Where to fetch the spec (JSON or YAML). Either this or `spec`. */
  specUrl?: string;
  /** An inline spec: a parsed object, or JSON/YAML text. */
  spec?: Record<string, unknown> | string;
  /**
   * Where calls go. Defaults to the spec's first `servers` entry (resolved against `specUrl`).
   * Only this host:port may be a loopback, private or link-local address (SSRF guard).
   */
  baseUrl?: string;
  /** Static headers sent with every call (e.g. an API key). */
  headers?: Record<string, string>;
  /** Poll the spec this often (ms); no polling when absent. */
  pollIntervalMs?: number;
  /** Timeout of one call (and of one spec fetch), ms. Default 30 000. */
  timeoutMs?: number;
  /** Largest response body a call may read, bytes. Default 5 MiB. */
  maxResponseBytes?: number;
  /** `fetch` for this source (calls and spec fetches). Defaults to the catalog's, then the global one. */
  fetch?: FetchLike;
}

/** The reference's `CatalogAction`. */
export interface CatalogAction {
  /** Tool name (e.g., "user-service_listUsers") */
  name: string;
  /** Human-readable description from the OpenAPI spec */
  description?: string;
  /** JSON Schema for the tool's input parameters */
  inputSchema?: Record<string, unknown>;
  /** Name of the service this action belongs to */
  service: string;
  /** Tags from the OpenAPI operation */
  tags?: string[];
  /** Whether the operation is deprecated */
  deprecated?: boolean;
}

/** The reference's `CatalogService`. */
export interface CatalogService {
  /** Service name (from OpenApiSourceConfig.name) */
  name: string;
  /** Internal spec URL */
  specUrl: string;
  /** ISO 8601 timestamp of the last successful spec poll */
  lastUpdated: string;
  /** Number of actions from this service */
  actionCount: number;
}

/** The reference's `CatalogResponse`. */
export interface CatalogResponse {
  /** Available actions from all connected OpenAPI sources */
  actions: CatalogAction[];
  /** Connected OpenAPI service descriptors */
  services: CatalogService[];
  /** Catalog version — changes when actions are added or removed */
  version: string;
}

/** Where a parameter goes. */
export type ParamLocation = 'path' | 'query' | 'header' | 'cookie';

/** One parameter of an operation, as needed to build a request. */
export interface ParamSpec {
  /** Name in the HTTP request. */
  name: string;
  /** Property name in the action's arguments (usually `name`). */
  argName: string;
  in: ParamLocation;
  required: boolean;
  style: string;
  explode: boolean;
  allowReserved: boolean;
  /** The value is sent as JSON text (a parameter described by `content` instead of `schema`). */
  json: boolean;
}

/** How an operation's request body is sent. */
export interface BodySpec {
  argName: string;
  required: boolean;
  mediaType: string;
}

/** One operation of a spec, turned into everything an action needs. */
export interface ActionSpec {
  /** Full action name, `<service>_<operationId>`. */
  name: string;
  service: string;
  method: string;
  /** Path template from the spec, e.g. `/pets/{petId}`. */
  path: string;
  description?: string;
  tags?: string[];
  deprecated?: boolean;
  inputSchema: Record<string, unknown>;
  /** JSON Schema of the success answer (its first 2xx JSON response), for the declarations. */
  outputSchema?: Record<string, unknown>;
  params: ParamSpec[];
  body?: BodySpec;
}
