import { parseArgs } from 'node:util';
import { toCliCommand, UsageError, type CliCommand } from './options.js';

/** Parses `enclave-broker`'s arguments; a bad command line throws a {@link UsageError}. */
export function parseCliArgs(argv: string[], env: Record<string, string | undefined> = process.env): CliCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string', short: 'H' },
        'redis-url': { type: 'string' },
        'upstash-url': { type: 'string' },
        'upstash-token': { type: 'string' },
        tools: { type: 'string', multiple: true },
        token: { type: 'string' },
        'log-level': { type: 'string' },
        'cors-origin': { type: 'string', multiple: true },
        metrics: { type: 'boolean' },
        'no-docs': { type: 'boolean' },
        timeout: { type: 'string' },
        'memory-limit': { type: 'string' },
        'max-tool-calls': { type: 'string' },
        'max-sessions': { type: 'string' },
        'rate-limit': { type: 'string' },
        'rate-limit-window': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!);
  }
  return toCliCommand(values, env);
}
