/** An `ActionSpec` → a `ToolDefinition` whose handler calls the service over HTTP. */
import { BrokerError } from '../protocol/errors.js';
import type { ExecutionContext, ToolDefinition } from '../tools/types.js';
import { isJsonContentType } from './body.js';
import { type OutgoingRequest, sendRequest } from './http.js';
import { buildQuery, serializeCookieParam, serializeHeaderParam, serializePathParam } from './serialize.js';
import { urlGuard } from './ssrf.js';
import type { ActionSpec, FetchLike, ParamSpec } from './types.js';
import { createArgsValidator } from './validate.js';

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024;

/** What calls of one source share. */
export interface CallSettings {
  /** Where requests go. */
  baseUrl: URL;
  /** The configured `baseUrl` (the only private host:port allowed), when there is one. */
  trustedBase?: URL;
  headers: Record<string, string>;
  fetch: FetchLike;
  timeoutMs: number;
  maxResponseBytes: number;
}

function encodeBody(mediaType: string, value: unknown): string {
  const type = mediaType.toLowerCase();
  if (isJsonContentType(type)) return JSON.stringify(value);
  if (type === 'application/x-www-form-urlencoded' && value && typeof value === 'object') {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(value)) {
      for (const item of Array.isArray(v) ? v : [v]) form.append(k, typeof item === 'object' ? JSON.stringify(item) : String(item));
    }
    return form.toString();
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The request builder of one action: what every call shares (its parameters by location, the
 * base URL's origin and path, the static headers) is worked out once. The builder throws
 * `TOOL_ARGS_INVALID` for a missing path parameter or arguments that lead outside the service.
 */
export function compileRequest(spec: ActionSpec, settings: CallSettings): (args: Record<string, unknown>) => OutgoingRequest {
  const pathParams = spec.params.filter((p) => p.in === 'path');
  const placeholders = pathParams.map((p) => `{${p.name}}`);
  const queryParams = spec.params.filter((p) => p.in === 'query');
  const headerParams = spec.params.filter((p) => p.in === 'header' || p.in === 'cookie');
  const origin = settings.baseUrl.origin;
  const basePath = settings.baseUrl.pathname.replace(/\/+$/, '');
  const staticHeaders = Object.entries(settings.headers);
  const body = spec.body;

  return (args) => {
    const present = (p: ParamSpec) => args[p.argName] !== undefined && args[p.argName] !== null;
    let path = spec.path;
    for (let i = 0; i < pathParams.length; i++) {
      const param = pathParams[i]!;
      if (!present(param)) throw new BrokerError('TOOL_ARGS_INVALID', `${param.argName} is required`);
      const value = serializePathParam(param, args[param.argName]);
      // `.` and `..` (also as %2e) would be path navigation, not a value: refuse them.
      if (/^(\.|%2e){1,2}$/i.test(value)) throw new BrokerError('TOOL_ARGS_INVALID', `${param.argName} must not be "${value}"`);
      path = path.split(placeholders[i]!).join(value);
    }
    const queryEntries: Array<{ param: ParamSpec; value: unknown }> = [];
    for (const param of queryParams) if (present(param)) queryEntries.push({ param, value: args[param.argName] });
    const query = queryEntries.length ? buildQuery(queryEntries) : '';
    const url = new URL(`${origin}${basePath}${path.startsWith('/') ? path : `/${path}`}${query ? `?${query}` : ''}`);
    if (url.origin !== origin || !url.pathname.startsWith(basePath)) {
      throw new BrokerError('TOOL_ARGS_INVALID', `${spec.name}: the arguments lead outside the service`);
    }

    const headers = new Headers({ accept: 'application/json, */*;q=0.8' });
    const cookies: string[] = [];
    for (const param of headerParams) {
      if (!present(param)) continue;
      if (param.in === 'header') headers.set(param.name, serializeHeaderParam(param, args[param.argName]));
      else cookies.push(serializeCookieParam(param, args[param.argName]));
    }
    if (cookies.length) headers.set('cookie', cookies.join('; '));
    // The source's static headers (credentials) win over header parameters.
    for (const [name, value] of staticHeaders) headers.set(name, value);

    const request: OutgoingRequest = { url, method: spec.method, headers };
    if (body && args[body.argName] !== undefined) {
      request.body = encodeBody(body.mediaType, args[body.argName]);
      headers.set('content-type', body.mediaType);
    }
    return request;
  };
}

/** Builds the HTTP request of one call (see `compileRequest`). */
export function buildRequest(spec: ActionSpec, settings: CallSettings, args: Record<string, unknown>): OutgoingRequest {
  return compileRequest(spec, settings)(args);
}

/** The tool of one action: validated by its `inputSchema`, handled by an HTTP call. */
export function createActionTool(spec: ActionSpec, settings: CallSettings): ToolDefinition {
  const validateArgs = createArgsValidator(spec.inputSchema);
  const label = spec.name;
  const guard = urlGuard(settings.trustedBase);
  const build = compileRequest(spec, settings);
  return {
    name: spec.name,
    description: spec.description ?? `${spec.method} ${spec.path}`,
    parameters: {},
    inputSchema: spec.inputSchema,
    ...(spec.outputSchema ? { outputSchema: spec.outputSchema } : {}),
    validateArgs,
    source: spec.service,
    async handler(args: Record<string, unknown>, context?: ExecutionContext): Promise<unknown> {
      let request;
      try {
        request = build(args ?? {});
      } catch (err) {
        if (err instanceof BrokerError) throw err;
        throw new BrokerError('TOOL_ARGS_INVALID', `${label}: ${(err as Error).message}`);
      }
      const response = await sendRequest(request, {
        fetch: settings.fetch,
        timeoutMs: settings.timeoutMs,
        maxResponseBytes: settings.maxResponseBytes,
        label,
        guard,
        ...(context ? { context } : {}),
      });
      return response.body;
    },
  };
}
