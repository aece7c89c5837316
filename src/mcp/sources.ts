/**
 * MCP servers as tool sources: each remote tool is registered as the server tool
 * `<source>:<tool>` (see naming.ts), kept in step with `notifications/tools/list_changed`,
 * and called with `tools/call`. A source that goes down keeps its tools, which fail with a
 * clear TOOL_ERROR while the broker reconnects with backoff. This file imports the MCP SDK;
 * the broker loads it only when `mcp.sources` is set.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { CatalogChangedPayload } from '../protocol/events.js';
import { BrokerError, errorText } from '../protocol/errors.js';
import { sha256Hex } from '../openapi/hash.js';
import { checkUrl } from '../openapi/ssrf.js';
import { createArgsValidator } from '../openapi/validate.js';
import type { FetchLike } from '../openapi/types.js';
import type { Logger } from '../logger.js';
import type { ToolRegistry } from '../tools/registry.js';
import { listenAbort } from '../tools/abort.js';
import type { ExecutionContext, ToolDefinition } from '../tools/types.js';
import { CallSignal } from './call-signal.js';
import { assertSourceName, brokerToolName } from './naming.js';
import { McpSchemaValidator } from './schema-validator.js';
import type { McpHttpSourceConfig, McpSourceConfig, McpStdioSourceConfig } from './types.js';
import { unwrapCallResult, type CallAnswer } from './unwrap.js';
import { unref } from '../util/timers.js';

export interface McpSourcesOptions {
  logger: Logger;
  /** Told when tools are added or removed (live sessions get `catalog_changed`). */
  onChange?: (change: CatalogChangedPayload) => void;
  /** `fetch` for Streamable HTTP sources (default the global one); the SSRF guard wraps it. */
  fetch?: FetchLike;
  /** First reconnect delay, ms (default 500); doubles per failure up to `maxBackoffMs`. */
  retryDelayMs?: number;
  /** Longest wait between reconnects, ms (default 30000). */
  maxBackoffMs?: number;
  /** Timeout of connecting and listing tools, ms (default 10000). */
  connectTimeoutMs?: number;
}

interface SourceState {
  config: McpSourceConfig;
  client?: Client;
  up: boolean;
  lastError?: string;
  /** Broker tool name → MCP tool name, for the tools this source has registered. */
  tools: Map<string, string>;
  failures: number;
  timer?: ReturnType<typeof setTimeout>;
  connecting?: Promise<void>;
  probing?: boolean;
}

const DEFAULT_CALL_TIMEOUT_MS = 60_000;

function isStdio(config: McpSourceConfig): config is McpStdioSourceConfig {
  return typeof (config as McpStdioSourceConfig).command === 'string';
}

/** A fetch that sends nothing outside the SSRF guard: public addresses, or the source's own host:port. */
export function guardedFetch(configured: URL, inner: FetchLike): FetchLike {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const reason = checkUrl(url, configured);
    if (reason) return Promise.reject(new Error(`request to ${url.origin} refused: ${reason}`));
    return inner(input, init);
  };
}

/** Whether a failed call means the connection is gone (then the source reconnects). */
function isConnectionFailure(err: unknown): boolean {
  if (err instanceof McpError) return err.code === ErrorCode.ConnectionClosed;
  return true;
}

export class McpSources {
  private readonly states: SourceState[];
  private running = false;
  private version: string | undefined;
  /** Serializes registry updates of all sources. */
  private applying: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly registry: ToolRegistry,
    configs: readonly McpSourceConfig[],
    private readonly options: McpSourcesOptions,
  ) {
    const names = new Set<string>();
    this.states = configs.map((config) => {
      assertSourceName(config?.name);
      if (names.has(config.name)) throw new TypeError(`two MCP sources are named ${config.name}`);
      names.add(config.name);
      if (!isStdio(config)) {
        if (typeof (config as McpHttpSourceConfig).url !== 'string')
          throw new TypeError(`MCP source ${config.name}: give command (stdio) or url (Streamable HTTP)`);
        const url = new URL(config.url);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`MCP source ${config.name}: url must be http(s)`);
      }
      return { config, up: false, tools: new Map(), failures: 0 };
    });
  }

  /** Connects every source once (a source that fails keeps retrying in the background). */
  async start(): Promise<void> {
    this.running = true;
    await Promise.all(this.states.map((s) => this.connect(s)));
  }

  /** Disconnects every source. Registered tools stay (and fail as unavailable). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(
      this.states.map(async (state) => {
        if (state.timer) clearTimeout(state.timer);
        state.timer = undefined;
        const client = state.client;
        state.client = undefined;
        state.up = false;
        await client?.close().catch(() => {});
      }),
    );
  }

  /** Each source's name, whether it is connected, its tools and its last error. */
  status(): Array<{ name: string; connected: boolean; tools: string[]; lastError?: string }> {
    return this.states.map((s) => ({
      name: s.config.name,
      connected: s.up,
      tools: [...s.tools.keys()],
      ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    }));
  }

  private connect(state: SourceState): Promise<void> {
    state.connecting ??= this.connectOnce(state).finally(() => {
      state.connecting = undefined;
    });
    return state.connecting;
  }

  private async connectOnce(state: SourceState): Promise<void> {
    const { config } = state;
    const timeout = this.options.connectTimeoutMs ?? 10_000;
    let client: Client | undefined;
    try {
      const transport = await this.transport(config);
      client = new Client(
        { name: 'enclave-broker', version: '0.1.0' },
        {
          jsonSchemaValidator: new McpSchemaValidator(),
          listChanged: { tools: { autoRefresh: false, debounceMs: 50, onChanged: () => void this.refresh(state, client!) } },
        },
      );
      const current = client;
      client.onclose = () => {
        if (state.client === current) this.markDown(state, 'the connection closed');
      };
      client.onerror = () => {
        if (state.client === current) this.probe(state, current);
      };
      await client.connect(transport, { timeout });
      if (!this.running) {
        await client.close().catch(() => {});
        return;
      }
      const tools = await this.listTools(client, timeout);
      const previous = state.client;
      state.client = client;
      state.up = true;
      state.failures = 0;
      state.lastError = undefined;
      await previous?.close().catch(() => {});
      await this.apply(state, tools);
      this.options.logger.info({ source: config.name, tools: tools.length }, 'MCP source connected');
    } catch (err) {
      await client?.close().catch(() => {});
      state.failures++;
      state.lastError = errorText(err);
      this.options.logger.warn({ source: config.name, err: state.lastError }, 'MCP source failed to connect');
      this.scheduleReconnect(state);
    }
  }

  private async transport(config: McpSourceConfig): Promise<Transport> {
    if (isStdio(config)) {
      const specifier = './stdio.node.js';
      const { stdioTransport } = (await import(/* @vite-ignore */ specifier)) as typeof import('./stdio.node.js');
      return stdioTransport(config, this.options.logger);
    }
    const url = new URL(config.url);
    const inner = this.options.fetch ?? ((input, init) => fetch(input, init));
    return new StreamableHTTPClientTransport(url, {
      fetch: guardedFetch(url, inner),
      ...(config.headers ? { requestInit: { headers: { ...config.headers } } } : {}),
    });
  }

  private async listTools(client: Client, timeout: number): Promise<Tool[]> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const answer = await client.listTools(cursor ? { cursor } : {}, { timeout });
      tools.push(...answer.tools);
      cursor = answer.nextCursor;
      if (!cursor) break;
    }
    return tools;
  }

  /** `notifications/tools/list_changed`: lists the tools again. */
  private async refresh(state: SourceState, client: Client): Promise<void> {
    if (state.client !== client) return;
    try {
      await this.apply(state, await this.listTools(client, this.options.connectTimeoutMs ?? 10_000));
    } catch (err) {
      this.options.logger.warn({ source: state.config.name, err: errorText(err) }, 'MCP source: listing tools failed');
    }
  }

  /** A transport error on a connected source: a ping tells whether the connection still works. */
  private probe(state: SourceState, client: Client): void {
    if (state.probing || !state.up) return;
    state.probing = true;
    client
      .ping({ timeout: this.options.connectTimeoutMs ?? 10_000 })
      .catch((err: unknown) => {
        if (state.client === client) this.markDown(state, errorText(err));
      })
      .finally(() => (state.probing = false));
  }

  private markDown(state: SourceState, reason: string): void {
    if (!state.up && state.timer) return;
    const client = state.client;
    state.up = false;
    state.client = undefined;
    state.lastError = reason;
    void client?.close().catch(() => {});
    this.options.logger.warn({ source: state.config.name, err: reason }, 'MCP source disconnected');
    if (!state.timer && !state.connecting) {
      // The first retry goes at once (a restarted server is usually back already).
      if (state.failures === 0) void this.connect(state);
      else this.scheduleReconnect(state);
    }
  }

  private scheduleReconnect(state: SourceState): void {
    if (!this.running || state.timer) return;
    const base = this.options.retryDelayMs ?? 500;
    const delay = Math.min(base * 2 ** Math.min(Math.max(state.failures - 1, 0), 20), Math.max(base, this.options.maxBackoffMs ?? 30_000));
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (this.running) void this.connect(state);
    }, delay);
    unref(state.timer);
  }

  /** Swaps the source's tools in the registry, then announces added and removed names. */
  private apply(state: SourceState, tools: Tool[]): Promise<void> {
    const run = this.applying.then(() => this.applyNow(state, tools));
    this.applying = run.catch(() => {});
    return run;
  }

  private async applyNow(state: SourceState, tools: Tool[]): Promise<void> {
    const before = this.allNames();
    const owned = state.tools;
    const next = new Map<string, string>();
    for (const tool of tools) {
      const name = brokerToolName(state.config.name, tool.name);
      if (next.has(name)) {
        this.options.logger.warn(
          { source: state.config.name, tool: tool.name },
          `MCP source: skipped tool ${tool.name}: its name ${name} is taken by ${next.get(name)}`,
        );
        continue;
      }
      if (this.registry.has(name) && !owned.has(name)) {
        this.options.logger.warn(
          { source: state.config.name, tool: tool.name },
          `MCP source: skipped tool ${name}: a tool with that name is already registered`,
        );
        continue;
      }
      this.registry.unregister(name);
      try {
        this.registry.register(this.definition(state, name, tool));
        next.set(name, tool.name);
      } catch (err) {
        this.options.logger.warn({ source: state.config.name, tool: tool.name, err: errorText(err) }, 'MCP source: skipped a tool');
      }
    }
    for (const name of owned.keys()) if (!next.has(name)) this.registry.unregister(name);
    state.tools = next;

    const after = this.allNames();
    const addedActions = [...after].filter((n) => !before.has(n)).sort();
    const removedActions = [...before].filter((n) => !after.has(n)).sort();
    const version = await sha256Hex(JSON.stringify([...after].sort()));
    const first = this.version === undefined;
    this.version = version;
    if (first && before.size === 0) return;
    if (addedActions.length === 0 && removedActions.length === 0) return;
    try {
      this.options.onChange?.({ version, addedActions, removedActions });
    } catch (err) {
      this.options.logger.warn({ err: errorText(err) }, 'MCP source: a catalog listener threw');
    }
  }

  private allNames(): Set<string> {
    const names = new Set<string>();
    for (const s of this.states) for (const n of s.tools.keys()) names.add(n);
    return names;
  }

  private definition(state: SourceState, name: string, tool: Tool): ToolDefinition {
    const inputSchema = tool.inputSchema as Record<string, unknown>;
    let validateArgs: ToolDefinition['validateArgs'];
    try {
      validateArgs = createArgsValidator(inputSchema);
    } catch (err) {
      this.options.logger.warn(
        { source: state.config.name, tool: tool.name, err: errorText(err) },
        'MCP source: the input schema cannot be checked; arguments pass unchecked',
      );
    }
    const timeout = state.config.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    return {
      name,
      description: tool.description ?? tool.title ?? tool.name,
      parameters: {},
      inputSchema,
      ...(tool.outputSchema ? { outputSchema: tool.outputSchema as Record<string, unknown> } : {}),
      ...(validateArgs ? { validateArgs } : {}),
      ...(needsApproval(state.config.approvals, tool) ? { needsApproval: true } : {}),
      source: state.config.name,
      handler: (args: Record<string, unknown>, context?: ExecutionContext) => this.callRemote(state, tool.name, name, timeout, args, context),
    };
  }

  /**
   * One `tools/call`. The request goes out in the same tick as the guest's call (no await
   * before the SDK writes it), and a call costs as few objects as it can: its options, its
   * signal, and progress handed to the context's own `progress` (which reads `progress`,
   * `total` and `message` of what it gets, as the SDK's progress notification has them).
   */
  private async callRemote(
    state: SourceState,
    toolName: string,
    name: string,
    timeout: number,
    args: Record<string, unknown>,
    context: ExecutionContext | undefined,
  ): Promise<unknown> {
    const client = state.up ? state.client : undefined;
    if (!client)
      throw new BrokerError('TOOL_ERROR', `${sourceLabel(state)} is unavailable${state.lastError ? ` (${state.lastError})` : ''}; the broker is reconnecting`);
    const options: RequestOptions = { timeout, resetTimeoutOnProgress: true };
    let signal: CallSignal | undefined;
    if (context) {
      const callSignal = new CallSignal();
      signal = callSignal;
      listenAbort(context, () => callSignal.abort());
      options.signal = callSignal.asAbortSignal();
      options.onprogress = context.progress;
    }
    let answer: CallAnswer;
    try {
      answer = (await client.callTool({ name: toolName, arguments: args }, undefined, options)) as CallAnswer;
    } catch (err) {
      if (signal?.aborted) throw new BrokerError('CANCELLED', `${name}: the call was cancelled`);
      if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) throw new BrokerError('TOOL_TIMEOUT', `${name}: no answer within ${timeout} ms`);
      if (isConnectionFailure(err)) {
        if (state.client === client) this.markDown(state, errorText(err));
        throw new BrokerError('TOOL_ERROR', `${sourceLabel(state)} is unavailable (${errorText(err)}); the broker is reconnecting`);
      }
      throw new BrokerError('TOOL_ERROR', `${name}: ${(err as Error).message}`);
    }
    return unwrapCallResult(name, answer);
  }
}

function sourceLabel(state: SourceState): string {
  return `MCP source ${state.config.name}`;
}

/** Whether a remote tool waits for an approval before each call (`approvals` of its source). */
function needsApproval(policy: 'destructive' | 'all' | 'none' | undefined, tool: Tool): boolean {
  if (policy === 'all') return true;
  if (policy === 'none') return false;
  return (tool.annotations as { destructiveHint?: unknown } | undefined)?.destructiveHint === true;
}
