/** The stdio transport of MCP sources (Node and Bun: it spawns a child process). */
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Logger } from '../logger.js';
import type { McpStdioSourceConfig } from './types.js';

/** Longest stderr text kept per line in the log. */
const MAX_LOG_LINE = 2000;

/** A transport that starts the source's command; its stderr goes to the broker's log (debug). */
export function stdioTransport(config: McpStdioSourceConfig, logger: Logger): StdioClientTransport {
  const transport = new StdioClientTransport({
    command: config.command,
    args: config.args ?? [],
    env: { ...getDefaultEnvironment(), ...config.env },
    ...(config.cwd !== undefined ? { cwd: config.cwd } : {}),
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer | string) => {
    const text = String(chunk).trimEnd();
    if (text) logger.debug({ source: config.name, stderr: text.slice(0, MAX_LOG_LINE) }, 'MCP source stderr');
  });
  return transport;
}
