import * as z from 'zod';
import {
  catalogResponseSchema,
  createSessionRequestSchema,
  errorBodySchema,
  executeRequestSchema,
  healthSchema,
  sessionInfoSchema,
  sessionListSchema,
  streamEventSchema,
  successSchema,
  toolResultRequestSchema,
  approvalRequestSchema,
} from '../protocol/schemas.js';
import type { AuthConfig, RateLimitConfig } from './types.js';

/**
 * The OpenAPI 3.1 document of the broker's own HTTP API (`GET /openapi.json`). Request and
 * response schemas are generated from the zod schemas that validate requests, so the document
 * cannot drift from what the routes accept.
 */

export interface OpenApiDocumentOptions {
  /** Where the API is mounted ('' at the root, '/enclave' when mounted): the server URL. */
  basePath?: string;
  authentication?: Pick<AuthConfig, 'type' | 'header'>;
  rateLimiting?: Pick<RateLimitConfig, 'maxRequests'>;
  /** Whether `GET /metrics` is served. */
  metrics?: boolean;
  /** Package version shown in `info.version`. */
  version?: string;
}

type JsonObject = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonObject;
  delete out.$schema;
  return out;
}

/** Component schemas, by name. */
export function componentSchemas(): Record<string, JsonObject> {
  const toolResult = jsonSchema(toolResultRequestSchema, 'input');
  toolResult.description = 'Exactly one of `result` and `error` is required.';
  return {
    ExecuteRequest: jsonSchema(executeRequestSchema, 'input'),
    CreateSessionRequest: jsonSchema(createSessionRequestSchema, 'input'),
    ToolResultRequest: toolResult,
    ApprovalRequest: jsonSchema(approvalRequestSchema, 'input'),
    ErrorBody: jsonSchema(errorBodySchema, 'output'),
    Success: jsonSchema(successSchema, 'output'),
    SessionInfo: jsonSchema(sessionInfoSchema, 'output'),
    SessionList: jsonSchema(sessionListSchema, 'output'),
    Health: jsonSchema(healthSchema, 'output'),
    CatalogResponse: jsonSchema(catalogResponseSchema, 'output'),
    StreamEvent: jsonSchema(streamEventSchema, 'output'),
  };
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const ERROR_TEXT: Record<number, string> = {
  400: 'VALIDATION_ERROR: the body or a parameter is invalid (also malformed JSON)',
  401: 'UNAUTHORIZED: missing or invalid credentials',
  404: 'NOT_FOUND: no such session (also another tenant\u2019s, or an expired one)',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE: the body exceeds maxBodyBytes or the code exceeds maxCodeBytes',
  415: 'UNSUPPORTED_MEDIA_TYPE: a content type other than JSON',
  429: 'RATE_LIMITED (with Retry-After and RateLimit-* headers)',
  500: 'INTERNAL_ERROR (no stack trace or host detail)',
  503: 'TOO_MANY_SESSIONS, STORE_UNAVAILABLE (the shared store cannot be reached) or AUTH_UNAVAILABLE (authentication.validate threw or timed out), with Retry-After',
};

const errorResponse = (status: number, text = ERROR_TEXT[status] ?? 'error') => ({
  description: text,
  content: { 'application/json': { schema: ref('ErrorBody') } },
});

const json = (schema: string, description: string, headers?: JsonObject) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: ref(schema) } },
});

const ndjson = (description: string) => ({
  description: `${description} Each line is one JSON event (the schema below); \`final\` is always last.`,
  headers: { 'X-Session-ID': { description: 'The session id', schema: { type: 'string' } } },
  content: { 'application/x-ndjson': { schema: ref('StreamEvent') } },
});

const jsonBody = (schema: string) => ({ required: true, content: { 'application/json': { schema: ref(schema) } } });

const sessionIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'Session id (`s_…`)',
  schema: { type: 'string', pattern: '^s_' },
};

const seqSchema = { type: 'string', pattern: '^\\d{1,15}$' };
const filterParams = [
  { name: 'types', in: 'query', description: 'Comma-separated event types to keep (`final` and fatal `error` always pass).', schema: { type: 'string' } },
  { name: 'blockedTypes', in: 'query', description: 'Comma-separated event types to drop.', schema: { type: 'string' } },
];
const lastEventId = {
  name: 'Last-Event-ID',
  in: 'header',
  description: 'Replay events after this seq (used when the query parameter is absent).',
  schema: seqSchema,
};

/** Builds the document; `authentication` adds the security scheme and 401 answers. */
export function openApiDocument(options: OpenApiDocumentOptions = {}): JsonObject {
  const auth = options.authentication;
  const common = (statuses: number[]): Record<string, unknown> => {
    const all = new Set(statuses);
    all.add(500);
    if (auth) all.add(401).add(503); // 503: validate() timed out
    if (options.rateLimiting) all.add(429).add(503); // 503: the counter store failed
    const out: Record<string, unknown> = {};
    for (const s of [...all].sort((a, b) => a - b)) out[String(s)] = errorResponse(s);
    return out;
  };
  const op = (summary: string, description: string, tags: string[], responses: JsonObject, errors: number[], extra: JsonObject = {}) => ({
    summary,
    description,
    tags,
    ...extra,
    responses: { ...responses, ...common(errors) },
  });

  const executeErrors = [400, 413, 415, 503];
  const paths: JsonObject = {
    '/execute': {
      post: op(
        'Run code and stream its events',
        'Runs the code in a QuickJS sandbox and streams every step as NDJSON. `timeout` and `maxToolCalls` (and `limits`) may only lower the broker\u2019s limits. 503 is also TOO_MANY_SESSIONS when maxConcurrentSessions is reached.',
        ['execution'],
        { 200: ndjson('The session\u2019s event stream.') },
        executeErrors,
        { operationId: 'execute', requestBody: jsonBody('ExecuteRequest') },
      ),
    },
    '/sessions': {
      post: op(
        'Create a session (upstream EnclaveJS form)',
        'Behaves as POST /execute. `config.maxExecutionMs` maps to `timeoutMs`. 409 CONFLICT when `sessionId` exists already.',
        ['upstream'],
        { 200: ndjson('The session\u2019s event stream.') },
        [...executeErrors, 409],
        { operationId: 'createSession', requestBody: jsonBody('CreateSessionRequest') },
      ),
      get: op(
        'List the caller\u2019s sessions',
        'Sessions of the authenticated tenant (or user).',
        ['sessions'],
        { 200: json('SessionList', 'The sessions, oldest first.') },
        [503],
        {
          operationId: 'listSessions',
        },
      ),
    },
    '/sessions/{id}': {
      parameters: [sessionIdParam],
      get: op(
        'Get a session',
        'The reference\u2019s `Session` shape; timestamps are epoch ms.',
        ['sessions'],
        { 200: json('SessionInfo', 'The session.') },
        [404, 503],
        {
          operationId: 'getSession',
        },
      ),
      delete: op('Cancel a session', 'The session ends with CANCELLED.', ['sessions'], { 200: json('Success', 'Cancelled (or already ended).') }, [404, 503], {
        operationId: 'cancelSession',
      }),
    },
    '/sessions/{id}/events': {
      parameters: [sessionIdParam],
      get: op(
        'Replay and follow a session\u2019s events',
        'Replays stored events with `seq` greater than `after` (or `Last-Event-ID`), then follows live ones until `final`.',
        ['sessions'],
        { 200: ndjson('The events after `after`.') },
        [400, 404, 503],
        {
          operationId: 'sessionEvents',
          parameters: [
            { name: 'after', in: 'query', description: 'Replay events with a greater seq (exclusive; default 0).', schema: seqSchema },
            lastEventId,
            ...filterParams,
          ],
        },
      ),
    },
    '/sessions/{id}/stream': {
      parameters: [sessionIdParam],
      get: op(
        'Replay and follow (upstream EnclaveJS form)',
        'Like /events, but `fromSeq` (or `from`) is inclusive.',
        ['upstream'],
        { 200: ndjson('The events from `fromSeq` on.') },
        [400, 404, 503],
        {
          operationId: 'sessionStream',
          parameters: [
            { name: 'fromSeq', in: 'query', description: 'First seq to replay (inclusive).', schema: seqSchema },
            { name: 'from', in: 'query', description: 'Same as fromSeq.', schema: seqSchema },
            lastEventId,
            ...filterParams,
          ],
        },
      ),
    },
    '/sessions/{id}/tool-result': {
      parameters: [sessionIdParam],
      post: op(
        'Answer a client tool call',
        'Resolves (or, with `error`, rejects) a pending `handler: client` call. 409 CONFLICT when the call was already resolved, runs on the server, or the session is no longer running; 404 for an unknown callId.',
        ['sessions'],
        { 200: json('Success', 'The result was delivered.') },
        [400, 404, 409, 413, 415, 503],
        { operationId: 'submitToolResult', requestBody: jsonBody('ToolResultRequest') },
      ),
    },
    '/sessions/{id}/approvals': {
      parameters: [sessionIdParam],
      post: op(
        'Decide a call that waits for approval',
        "Approves (the handler runs) or rejects (the call fails in the guest with TOOL_APPROVAL_DENIED and `reason`) a call of a tool with `needsApproval`, announced by an `approval_required` event. 409 CONFLICT when the call is not waiting for approval (decided already, timed out, or needs none) or the session is no longer running; 404 for an unknown callId or another tenant's session.",
        ['sessions'],
        { 200: json('Success', 'The decision was taken.') },
        [400, 404, 409, 413, 415, 503],
        { operationId: 'decideApproval', requestBody: jsonBody('ApprovalRequest') },
      ),
    },
    '/sessions/{id}/cancel': {
      parameters: [sessionIdParam],
      post: op(
        'Cancel a session (upstream EnclaveJS form)',
        'Same as DELETE /sessions/{id}.',
        ['upstream'],
        { 200: json('Success', 'Cancelled.') },
        [404, 503],
        {
          operationId: 'cancelSessionUpstream',
        },
      ),
    },
    '/code/actions': {
      get: op(
        'The OpenAPI action catalog',
        'Actions from the configured OpenAPI sources (also callable as tools). `version` changes only when an action is added or removed.',
        ['catalog'],
        { 200: json('CatalogResponse', 'The catalog.') },
        [],
        { operationId: 'listActions' },
      ),
    },
    '/health': {
      get: {
        summary: 'Health check',
        description: 'Never authenticated nor rate limited. `uptime` is in seconds; counts are this process\u2019s.',
        tags: ['meta'],
        operationId: 'health',
        security: [],
        responses: { 200: json('Health', 'The broker is up.') },
      },
    },
    '/openapi.json': {
      get: op(
        'This document',
        'The OpenAPI 3.1 document of this API.',
        ['meta'],
        { 200: { description: 'The document.', content: { 'application/json': { schema: { type: 'object' } } } } },
        [],
        {
          operationId: 'openapi',
        },
      ),
    },
    '/docs': {
      get: {
        summary: 'Interactive API page',
        description:
          'A self-contained HTML page (loads nothing from the internet) that lists the routes of /openapi.json and can try POST /execute. The page itself holds no data and is served without authentication; it asks for a credential to fetch the document.',
        tags: ['meta'],
        operationId: 'docs',
        security: [],
        responses: { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
  };
  if (options.metrics) {
    paths['/metrics'] = {
      get: op(
        'Prometheus metrics',
        'Counters of this process (on Workers: of the object that answers).',
        ['meta'],
        {
          200: { description: 'Prometheus text format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } },
        },
        [],
        { operationId: 'metrics' },
      ),
    };
  }

  const doc: JsonObject = {
    openapi: '3.1.0',
    info: {
      title: 'enclave-broker',
      version: options.version ?? '0.1.0',
      description:
        'Runs untrusted JavaScript in a QuickJS sandbox, lets it call tools, and streams every step as NDJSON (protocolVersion 2). Every response carries `X-Request-Id` (the caller\u2019s, when sent). Every route answers `OPTIONS` with CORS headers.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    servers: [{ url: options.basePath || '/' }],
    tags: [
      { name: 'execution' },
      { name: 'sessions' },
      { name: 'catalog' },
      { name: 'upstream', description: 'Routes for clients written against upstream EnclaveJS.' },
      { name: 'meta' },
    ],
    paths,
    components: { schemas: componentSchemas() } as JsonObject,
  };
  if (auth) {
    const scheme =
      auth.type === 'bearer'
        ? { type: 'http', scheme: 'bearer' }
        : auth.type === 'api-key'
          ? { type: 'apiKey', in: 'header', name: auth.header ?? 'X-API-Key' }
          : { type: 'apiKey', in: 'header', name: 'Authorization', description: 'Validated by the broker\u2019s custom validate()' };
    (doc.components as JsonObject).securitySchemes = { broker: scheme };
    doc.security = [{ broker: [] }];
  }
  return doc;
}
