/**
 * The broker as an MCP server: a Streamable HTTP endpoint serving `execute`, `search` and
 * `describe`. This file imports the MCP SDK; `mount.ts` loads it on the first MCP request.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  type CallToolResult,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { readJson } from '../http/body.js';
import type { AppEnv } from '../http/types.js';
import { BrokerError, errorText } from '../protocol/errors.js';
import { permissionMatcher } from '../tools/permissions.js';
import type { CallerIdentity, ToolDefinition } from '../tools/types.js';
import { renderDocumentation } from '../tools/documentation.js';
import { runForMcp, type McpRunDeps } from './run.js';
import { searchTools } from './search.js';
import type { McpServedTool, McpServerOptions } from './types.js';

export interface McpEndpointDeps extends McpRunDeps {
  /** The server tools the broker knows now (registry, OpenAPI actions, MCP sources). */
  tools: () => readonly ToolDefinition[];
  maxBodyBytes: number;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const EXECUTE_INTRO =
  'Runs JavaScript in a sandbox and answers its result. The code is the body of an async function: ' +
  '`return` a JSON value; `await callTool(name, args)` calls a tool; `console.log` output is returned in `logs`. ' +
  '`context` is available to the code as the global `context`. Nothing else of the host is reachable (no fetch, no require).\n\n';

const OUTPUT_SCHEMA = {
  type: 'object',
  properties: {
    result: { description: 'What the code returned (absent when it returned undefined or failed)' },
    logs: { type: 'array', items: { type: 'string' }, description: 'console output, in order' },
    stats: {
      type: 'object',
      properties: { durationMs: { type: 'number' }, toolCallCount: { type: 'number' }, stdoutBytes: { type: 'number' } },
    },
    sessionId: { type: 'string' },
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
  },
  required: ['logs', 'stats', 'sessionId'],
} as const;

const executeArgs = z.object({ code: z.string().min(1), context: z.record(z.string(), z.unknown()).optional() });
const searchArgs = z.object({ query: z.string(), limit: z.number().int().positive().max(100).optional() });
const describeArgs = z.object({ name: z.string().min(1) });

function identityOf(extra: Extra): CallerIdentity | undefined {
  return (extra.authInfo?.extra as { identity?: CallerIdentity } | undefined)?.identity;
}

function visibleTools(deps: McpEndpointDeps, identity: CallerIdentity | undefined): ToolDefinition[] {
  const allow = permissionMatcher(identity?.permissions);
  return deps.tools().filter((t) => allow(t.name));
}

function toolList(served: readonly McpServedTool[], tools: readonly ToolDefinition[]): Tool[] {
  const list: Tool[] = [];
  if (served.includes('execute')) {
    list.push({
      name: 'execute',
      description: EXECUTE_INTRO + renderDocumentation(tools),
      inputSchema: {
        type: 'object',
        properties: {
          code: { type: 'string', description: 'JavaScript: the body of an async function' },
          context: { type: 'object', description: 'A JSON object the code reads as `context`' },
        },
        required: ['code'],
      },
      outputSchema: OUTPUT_SCHEMA as unknown as Tool['outputSchema'],
    });
  }
  if (served.includes('search')) {
    list.push({
      name: 'search',
      description: 'Finds the tools `execute` code can call, by words of their names and descriptions. Answers names and descriptions.',
      inputSchema: {
        type: 'object',
        properties: { query: { type: 'string' }, limit: { type: 'number', description: 'at most this many (default 20)' } },
        required: ['query'],
      },
    });
  }
  if (served.includes('describe')) {
    list.push({
      name: 'describe',
      description: "Answers one tool's TypeScript declaration and JSON Schemas, for calling it from `execute` code.",
      inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
    });
  }
  return list;
}

function failure(code: string, message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `${code}: ${message}` }] };
}

function argsOf<S extends z.ZodType>(schema: S, args: unknown): z.infer<S> {
  const parsed = schema.safeParse(args ?? {});
  if (!parsed.success) throw new BrokerError('VALIDATION_ERROR', parsed.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; '));
  return parsed.data;
}

/** What a tool call needs of its request. */
interface CallInfo {
  identity: CallerIdentity | undefined;
  signal: AbortSignal;
  /** Sends a progress notification (when the client asked for them). */
  progress: ((step: number, message: string) => void) | undefined;
}

function callInfo(extra: Extra): CallInfo {
  const token = extra._meta?.progressToken;
  return {
    identity: identityOf(extra),
    signal: extra.signal,
    progress:
      token === undefined
        ? undefined
        : (step, message) =>
            void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: step, message } }).catch(() => {}),
  };
}

async function callTool(deps: McpEndpointDeps, served: readonly McpServedTool[], name: string, args: unknown, call: CallInfo): Promise<CallToolResult> {
  if (!served.includes(name as McpServedTool)) return failure('TOOL_NOT_FOUND', `no tool named ${name}`);
  const { identity } = call;
  try {
    if (name === 'execute') {
      const { code, context } = argsOf(executeArgs, args);
      const run = await runForMcp(deps, { code, context, identity, signal: call.signal, progress: call.progress });
      const body = { ...(run.ok && run.result !== undefined ? { result: run.result } : {}), logs: run.logs, stats: run.stats, sessionId: run.sessionId };
      if (!run.ok) {
        const { code: errorCode, message } = run.error ?? { code: 'INTERNAL_ERROR', message: 'the session failed' };
        return {
          isError: true,
          content: [{ type: 'text', text: `${errorCode}: ${message}` }],
          structuredContent: { ...body, error: { code: errorCode, message } },
        };
      }
      const text = run.result === undefined ? 'undefined' : JSON.stringify(run.result);
      return { content: [{ type: 'text', text: run.logs.length ? `${text}\n\nlogs:\n${run.logs.join('')}` : text }], structuredContent: body };
    }
    const tools = visibleTools(deps, identity);
    if (name === 'search') {
      const { query, limit } = argsOf(searchArgs, args);
      const found = searchTools(tools, query, limit ?? 20).map((t) => ({ name: t.name, description: t.description }));
      return { content: [{ type: 'text', text: JSON.stringify(found) }], structuredContent: { tools: found } };
    }
    const { name: toolName } = argsOf(describeArgs, args);
    const tool = tools.find((t) => t.name === toolName);
    if (!tool) return failure('TOOL_NOT_FOUND', `no tool named ${toolName}`);
    const declaration = renderDocumentation([tool]);
    return {
      content: [{ type: 'text', text: declaration }],
      structuredContent: {
        name: tool.name,
        description: tool.description,
        declaration,
        ...(tool.inputSchema ? { inputSchema: tool.inputSchema } : {}),
        ...(tool.outputSchema ? { outputSchema: tool.outputSchema } : {}),
      },
    };
  } catch (err) {
    if (err instanceof BrokerError) return failure(err.code, err.message);
    deps.logger.error({ tool: name, err: errorText(err) }, 'MCP tool failed');
    return failure('INTERNAL_ERROR', 'the tool failed');
  }
}

function servedTools(options: McpServerOptions): readonly McpServedTool[] {
  return options.tools ?? ['execute', 'search', 'describe'];
}

function buildServer(deps: McpEndpointDeps, options: McpServerOptions): Server {
  const served = servedTools(options);
  const server = new Server(
    { name: options.name ?? 'enclave-broker', version: options.version ?? '0.1.0' },
    { capabilities: { tools: {} }, jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
  );
  server.setRequestHandler(ListToolsRequestSchema, (_request, extra) => ({ tools: toolList(served, visibleTools(deps, identityOf(extra))) }));
  server.setRequestHandler(CallToolRequestSchema, (request, extra) => callTool(deps, served, request.params.name, request.params.arguments, callInfo(extra)));
  return server;
}

/**
 * The request that dominates a stateless endpoint, one `tools/call` that asks for no progress,
 * answered without building a server and a transport for it (about 100 µs of CPU a request).
 * Anything else, or anything unusual about it (headers, extra parameters, an unknown protocol
 * version), goes to the SDK, which answers it as the protocol says.
 */
async function directCall(
  c: Context<AppEnv>,
  deps: McpEndpointDeps,
  options: McpServerOptions,
  body: unknown,
  identity: CallerIdentity | undefined,
): Promise<Response | undefined> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const message = body as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
  if (message.jsonrpc !== '2.0' || message.method !== 'tools/call' || (typeof message.id !== 'string' && typeof message.id !== 'number')) return undefined;
  if (Object.keys(message).length !== 4 || !message.params || typeof message.params !== 'object') return undefined;
  const params = message.params as { name?: unknown; arguments?: unknown; _meta?: unknown };
  if (typeof params.name !== 'string' || Object.keys(params).some((k) => k !== 'name' && k !== 'arguments' && k !== '_meta')) return undefined;
  if (params.arguments !== undefined && (!params.arguments || typeof params.arguments !== 'object' || Array.isArray(params.arguments))) return undefined;
  if (params._meta !== undefined && (!params._meta || typeof params._meta !== 'object' || Object.keys(params._meta).length > 0)) return undefined;
  const accept = c.req.header('accept') ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream')) return undefined;
  if (!c.req.header('content-type')?.includes('application/json')) return undefined;
  const version = c.req.header('mcp-protocol-version');
  if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined;
  // A client that goes away cancels the call, as with the SDK's transport.
  const gone = c.req.raw.signal ?? new AbortController().signal;
  const result = await callTool(deps, servedTools(options), params.name, params.arguments, { identity, signal: gone, progress: undefined });
  return c.body(JSON.stringify({ result, jsonrpc: '2.0', id: message.id }), 200, { 'content-type': 'application/json' });
}

/** Whether any request of a JSON-RPC body asks for progress (then the answer is an SSE stream). */
function wantsStream(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => {
    const meta = (m as { params?: { _meta?: { progressToken?: unknown } } } | null)?.params?._meta;
    return meta?.progressToken !== undefined;
  });
}

function authInfo(identity: CallerIdentity | undefined): AuthInfo {
  return { token: '', clientId: identity?.userId ?? identity?.tenantId ?? '', scopes: identity?.permissions ?? [], extra: { identity } };
}

/** Who may use an MCP session: the tenant (or user) that opened it. */
function ownerOf(identity: CallerIdentity | undefined): string {
  return JSON.stringify([identity?.tenantId ?? null, identity?.userId ?? null]);
}

interface McpSessionEntry {
  transport: WebStandardStreamableHTTPServerTransport;
  owner: string;
  lastUsed: number;
}

/**
 * The transport's answer as the route's own, so the headers middleware prepared (CORS, the
 * request id) go with it. A JSON answer is passed on as a string, which Node sends much more
 * cheaply than a stream.
 */
async function answer(c: Context<AppEnv>, res: Response): Promise<Response> {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, key) => (headers[key] = value));
  const status = res.status as 200;
  if (!res.body) return c.body(null, status, headers);
  if (headers['content-type']?.startsWith('application/json')) return c.body(await res.text(), status, headers);
  return c.body(res.body, status, headers);
}

/** The endpoint's handler: one per broker. */
export function createMcpEndpoint(deps: McpEndpointDeps, options: McpServerOptions): (c: Context<AppEnv>) => Promise<Response> {
  const sessions = new Map<string, McpSessionEntry>();

  const stateless = async (c: Context<AppEnv>, identity: CallerIdentity | undefined): Promise<Response> => {
    if (c.req.method !== 'POST') {
      return c.json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this endpoint keeps no MCP sessions' }, id: null }, 405, {
        Allow: 'POST',
      });
    }
    const body = await readJson(c, z.unknown(), deps.maxBodyBytes);
    const direct = await directCall(c, deps, options, body, identity);
    if (direct) return direct;
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: !wantsStream(body) });
    const server = buildServer(deps, options);
    await server.connect(transport);
    // A client that goes away ends what it asked for: closing the server aborts its handlers
    // (and so cancels the session an `execute` runs). Once the answer is sent, this is a no-op.
    c.req.raw.signal?.addEventListener('abort', () => void server.close().catch(() => {}), { once: true });
    return answer(c, await transport.handleRequest(c.req.raw, { parsedBody: body, authInfo: authInfo(identity) }));
  };

  // MCP sessions nobody used for `sessionIdleMs` are closed, checked as requests come (no timers).
  const idleMs = options.sessionIdleMs ?? 30 * 60_000;
  let lastSweep = Date.now();
  const sweep = () => {
    const now = Date.now();
    if (now - lastSweep < Math.min(idleMs, 60_000)) return;
    lastSweep = now;
    for (const [sessionId, entry] of sessions) {
      if (now - entry.lastUsed < idleMs) continue;
      sessions.delete(sessionId);
      void entry.transport.close().catch(() => {});
    }
  };

  const stateful = async (c: Context<AppEnv>, identity: CallerIdentity | undefined): Promise<Response> => {
    sweep();
    const id = c.req.header('mcp-session-id');
    const owner = ownerOf(identity);
    const body = c.req.method === 'POST' ? await readJson(c, z.unknown(), deps.maxBodyBytes) : undefined;
    if (id !== undefined) {
      const entry = sessions.get(id);
      if (!entry || entry.owner !== owner) {
        return c.json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }, 404);
      }
      entry.lastUsed = Date.now();
      return answer(c, await entry.transport.handleRequest(c.req.raw, { parsedBody: body, authInfo: authInfo(identity) }));
    }
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      // A session may ask for progress on any later request: its answers are SSE streams.
      onsessioninitialized: (sessionId) => void sessions.set(sessionId, { transport, owner, lastUsed: Date.now() }),
      onsessionclosed: (sessionId) => void sessions.delete(sessionId),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await buildServer(deps, options).connect(transport);
    return answer(c, await transport.handleRequest(c.req.raw, { parsedBody: body, authInfo: authInfo(identity) }));
  };

  const handle = options.sessions ? stateful : stateless;
  return (c) => handle(c, c.get('identity'));
}
