import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { parseCliArgs } from '../src/cli/args.node.js';
import { HELP } from '../src/cli/help.js';
import { UsageError, type CliOptions } from '../src/cli/options.js';
import { createCliStore } from '../src/cli/store.js';
import { tokenAuth } from '../src/cli/token-auth.js';
import { ToolsModuleError, toolsFromModule } from '../src/cli/tools-module.js';
import { packageVersion } from '../src/cli/version.node.js';
import { consoleLogger } from '../src/logger.js';
import type { Logger } from '../src/logger.js';
import { ToolRegistry } from '../src/tools/registry.js';
import { serveBroker } from './node.js';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
}

const firstLine = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0]!;

/** Imports each `--tools` module and registers what it exports. */
async function loadTools(paths: string[], cwd: string): Promise<ToolRegistry | undefined> {
  if (paths.length === 0) return undefined;
  const registry = new ToolRegistry();
  for (const path of paths) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(resolve(cwd, path)).href)) as Record<string, unknown>;
    } catch (err) {
      throw new ToolsModuleError(`cannot load tools from ${path}: ${firstLine(err)}`);
    }
    try {
      await toolsFromModule(mod, registry);
    } catch (err) {
      throw new ToolsModuleError(`cannot use tools from ${path}: ${firstLine(err)}`);
    }
  }
  return registry;
}

async function serve(options: CliOptions, io: CliIo, logger: Logger): Promise<void> {
  const tools = await loadTools(options.tools, io.cwd);
  const storage = await createCliStore(options, logger);
  try {
    const broker = await serveBroker({
      port: options.port,
      hostname: options.host,
      logger,
      ...(storage.store ? { store: storage.store } : {}),
      ...(tools ? { tools } : {}),
      ...(options.token ? { authentication: tokenAuth(options.token) } : {}),
      ...options.broker,
    });
    const host = options.host?.includes(':') ? `[${options.host}]` : (options.host ?? 'localhost');
    logger.info(
      { url: `http://${host}:${broker.port}`, store: broker.store.name, tools: tools?.list().length ?? 0, auth: Boolean(options.token) },
      'enclave-broker ready',
    );
  } catch (err) {
    await storage.close();
    throw err;
  }
}

/**
 * `enclave-broker [options]`. Resolves with an exit status when the command is done (help,
 * errors); while serving, the process runs until SIGTERM/SIGINT.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number | undefined> {
  let options: CliOptions;
  try {
    const command = parseCliArgs(argv, io.env);
    if (command.kind === 'help') {
      io.stdout(HELP);
      return 0;
    }
    if (command.kind === 'version') {
      io.stdout(`${packageVersion()}\n`);
      return 0;
    }
    options = command.options;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`enclave-broker: ${err.message} (see enclave-broker --help)\n`);
      return 2;
    }
    throw err;
  }
  try {
    await serve(options, io, consoleLogger(options.logLevel));
    return undefined;
  } catch (err) {
    const why = err instanceof ToolsModuleError ? err.message : `cannot start: ${firstLine(err)}`;
    io.stderr(`enclave-broker: ${why}\n`);
    return 1;
  }
}
