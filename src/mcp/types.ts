/** Options of the `mcp` broker option: the broker as an MCP server, and MCP servers as tool sources. */

/** The MCP tools the broker's endpoint can serve. */
export type McpServedTool = 'execute' | 'search' | 'describe';

export interface McpServerOptions {
  /** Where the Streamable HTTP endpoint is mounted (default `/mcp`). */
  path?: string;
  /** Which tools it serves (default all three: `execute`, `search`, `describe`). */
  tools?: McpServedTool[];
  /**
   * Keep MCP sessions (`Mcp-Session-Id`) between requests, which lets a client open the
   * standalone SSE stream. Default false: stateless, one transport per request.
   */
  sessions?: boolean;
  /** With `sessions`: an MCP session unused this long (ms) is closed (default 1 800 000, 30 min). */
  sessionIdleMs?: number;
  /** Name and version the endpoint announces in `initialize` (default `enclave-broker`). */
  name?: string;
  version?: string;
}

interface McpSourceCommon {
  /**
   * The source's name: the prefix of its tools (`<name>:<tool>`). Letters, digits, `_`, `.`
   * and `-`, starting with a letter or digit.
   */
  name: string;
  /** Timeout of one `tools/call` in ms (default 60000; progress from the server resets it). */
  timeoutMs?: number;
  /**
   * Which of its tools wait for an approval before each call (see docs/approvals.md):
   * `'destructive'` (default) those the server marks `annotations.destructiveHint: true`,
   * `'all'`, or `'none'`.
   */
  approvals?: 'destructive' | 'all' | 'none';
}

/** An MCP server started as a child process, spoken to over stdio (Node and Bun only). */
export interface McpStdioSourceConfig extends McpSourceCommon {
  command: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
}

/** An MCP server reached over Streamable HTTP. */
export interface McpHttpSourceConfig extends McpSourceCommon {
  url: string;
  /** Headers sent with every request (credentials, typically). */
  headers?: Record<string, string>;
}

export type McpSourceConfig = McpStdioSourceConfig | McpHttpSourceConfig;

export interface McpOptions {
  /** Mount an MCP endpoint (`true`: at `/mcp` with the default tools). */
  server?: boolean | McpServerOptions;
  /** MCP servers whose tools become server tools `<name>:<tool>`. */
  sources?: McpSourceConfig[];
}
