/**
 * Mounting the MCP endpoint without loading the MCP SDK: the handler module (which imports
 * the SDK) is loaded by a computed specifier on the first MCP request, so bundlers leave it,
 * and the SDK, out of builds that never serve MCP.
 */
import type { Context, Hono } from 'hono';
import type { AppEnv } from '../http/types.js';
import { BrokerError, errorText } from '../protocol/errors.js';
import type { McpEndpointDeps } from './server.js';
import type { McpOptions, McpServerOptions } from './types.js';

type Handler = (c: Context<AppEnv>) => Promise<Response>;

/** The server options of `mcp.server`, or undefined when no endpoint is mounted. */
export function mcpServerOptions(options: McpOptions | undefined): McpServerOptions | undefined {
  const server = options?.server;
  if (!server) return undefined;
  return server === true ? {} : server;
}

/** Mounts the endpoint (default `/mcp`) on `app`; its middleware (auth, rate limits) applies. */
export function mountMcpServer(app: Hono<AppEnv>, deps: McpEndpointDeps, options: McpServerOptions): void {
  let handler: Promise<Handler> | undefined;
  const load = (): Promise<Handler> => {
    if (!handler) {
      const specifier = './server.js';
      handler = (import(/* @vite-ignore */ specifier) as Promise<typeof import('./server.js')>).then((m) => m.createMcpEndpoint(deps, options));
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
