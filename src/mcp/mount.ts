/**
 * Mounting the MCP endpoint without loading the MCP SDK: the handler module (which imports
 * the SDK) is loaded by a computed specifier on the first MCP request, so bundlers leave it,
 * and the SDK, out of builds that never serve MCP.
 */
import type { Context, Hono } from 'hono';
import type { AppEnv } from '../http/types.js';
import { BrokerError, errorText } from '../protocol/errors.js';
import type { McpEndpointDeps } from './server.js';
import type { ToolRegistry } from '../tools/registry.js';
import { assertSourceName } from './naming.js';
import type { McpSourcesOptions } from './sources.js';
import type { McpOptions, McpServerOptions, McpSourceConfig } from './types.js';

type Handler = (c: Context<AppEnv>) => Promise<Response>;

/** The server options of `mcp.server`, or undefined when no endpoint is mounted. */
export function mcpServerOptions(options: McpOptions | undefined): McpServerOptions | undefined {
  const server = options?.server;
  if (!server) return undefined;
  if (server === true) return {};
  if (typeof server !== 'object') throw new TypeError('mcp.server must be true or an object');
  if (server.path !== undefined && (typeof server.path !== 'string' || !/^\/[^\s?#]*$/.test(server.path))) {
    throw new TypeError(`mcp.server.path must be a path starting with /, got ${JSON.stringify(server.path)}`);
  }
  if (server.tools !== undefined) {
    const known = ['execute', 'search', 'describe'];
    if (!Array.isArray(server.tools) || server.tools.some((t) => !known.includes(t))) {
      throw new TypeError(`mcp.server.tools must list some of ${known.join(', ')}`);
    }
  }
  return server;
}

/** The endpoint's module (`enclave-broker/mcp-server`): what a bundle that serves MCP must include. */
export type McpServerModule = Pick<typeof import('./server.js'), 'createMcpEndpoint'>;

/**
 * Mounts the endpoint (default `/mcp`) on `app`; its middleware (auth, rate limits) applies.
 * `module` loads the endpoint's code (by default from this folder, at the first MCP request;
 * on Workers the adapter passes the module the Worker imported, since a bundle has no files).
 */
export function mountMcpServer(app: Hono<AppEnv>, deps: McpEndpointDeps, options: McpServerOptions, module?: () => Promise<McpServerModule>): void {
  let handler: Promise<Handler> | undefined;
  const load = (): Promise<Handler> => {
    if (!handler) {
      const specifier = './server.js';
      const loaded = module ? module() : (import(/* @vite-ignore */ specifier) as Promise<McpServerModule>);
      handler = loaded.then((m) => m.createMcpEndpoint(deps, options));
      handler = handler.catch((err: unknown) => {
        handler = undefined;
        deps.logger.error({ err: errorText(err) }, 'the MCP endpoint needs the optional dependency @modelcontextprotocol/sdk');
        throw new BrokerError('INTERNAL_ERROR', 'the MCP endpoint is not available');
      });
    }
    return handler;
  };
  app.all(options.path ?? '/mcp', async (c) => (await load())(c));
}

/** The MCP sources of a broker: checked now, connected by `start()` (which loads the SDK). */
export interface McpSourcesHandle {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Checks `mcp.sources` at once (names, one of command or url) and defers the rest to `start()`. */
export function mcpSources(registry: ToolRegistry, configs: readonly McpSourceConfig[], options: McpSourcesOptions): McpSourcesHandle {
  const names = new Set<string>();
  for (const config of configs) {
    assertSourceName(config?.name);
    if (names.has(config.name)) throw new TypeError(`two MCP sources are named ${config.name}`);
    names.add(config.name);
    const stdio = typeof (config as { command?: unknown }).command === 'string';
    const url = (config as { url?: unknown }).url;
    if (stdio === (typeof url === 'string')) throw new TypeError(`MCP source ${config.name}: give either command (stdio) or url (Streamable HTTP)`);
    if (!stdio) {
      const parsed = new URL(url as string);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`MCP source ${config.name}: url must be http(s)`);
    }
  }
  let sources: Promise<{ stop(): Promise<void> }> | undefined;
  return {
    start() {
      sources ??= (async () => {
        const specifier = './sources.js';
        const { McpSources } = (await import(/* @vite-ignore */ specifier)) as typeof import('./sources.js');
        const set = new McpSources(registry, configs, options);
        await set.start();
        return set;
      })();
      sources.catch(() => (sources = undefined));
      return sources.then(() => undefined);
    },
    async stop() {
      const set = await sources?.catch(() => undefined);
      await set?.stop();
    },
  };
}
