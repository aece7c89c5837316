import type { LogLevelName } from '../logger.js';

/** What the command line asks for, validated. */
export interface CliOptions {
  port: number;
  host: string | undefined;
  redisUrl: string | undefined;
  upstash: { url: string; token: string } | undefined;
  tools: string[];
  token: string | undefined;
  logLevel: LogLevelName;
}

export type CliCommand = { kind: 'help' } | { kind: 'serve'; options: CliOptions };

/** A bad command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const LOG_LEVELS = new Set<string>(['debug', 'info', 'warn', 'error', 'silent']);

export interface RawCliValues {
  port?: string;
  host?: string;
  'redis-url'?: string;
  'upstash-url'?: string;
  'upstash-token'?: string;
  tools?: string[];
  token?: string;
  'log-level'?: string;
  help?: boolean;
}

/** Checks parsed flags (with environment fallbacks) and builds the options. */
export function toCliCommand(values: RawCliValues, env: Record<string, string | undefined>): CliCommand {
  if (values.help) return { kind: 'help' };
  const portText = values.port ?? env.PORT ?? '3001';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(`--port must be an integer from 0 to 65535, not ${JSON.stringify(portText)}`);
  }
  const host = nonEmpty(values.host, '--host') ?? (env.HOST || undefined);
  const redisUrl = nonEmpty(values['redis-url'], '--redis-url') ?? (values['upstash-url'] ? undefined : env.REDIS_URL || undefined);
  const upstashUrl = nonEmpty(values['upstash-url'], '--upstash-url') ?? (values['redis-url'] ? undefined : env.UPSTASH_REDIS_REST_URL || undefined);
  const upstashToken = nonEmpty(values['upstash-token'], '--upstash-token') ?? (env.UPSTASH_REDIS_REST_TOKEN || undefined);
  if (redisUrl && upstashUrl) throw new UsageError('use either --redis-url or --upstash-url, not both');
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) throw new UsageError(`--redis-url must start with redis:// or rediss://`);
  if (upstashUrl && !/^https?:\/\//.test(upstashUrl)) throw new UsageError('--upstash-url must be an http(s) URL');
  if (upstashUrl && !upstashToken) throw new UsageError('--upstash-url needs --upstash-token (or UPSTASH_REDIS_REST_TOKEN)');
  if (values['upstash-token'] && !upstashUrl) throw new UsageError('--upstash-token needs --upstash-url');
  const token = nonEmpty(values.token, '--token') ?? (env.ENCLAVE_BROKER_TOKEN || undefined);
  const logLevel = values['log-level'] ?? env.LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) {
    throw new UsageError(`--log-level must be one of debug, info, warn, error, silent, not ${JSON.stringify(logLevel)}`);
  }
  for (const t of values.tools ?? []) nonEmpty(t, '--tools');
  return {
    kind: 'serve',
    options: {
      port: Number(portText),
      host,
      redisUrl,
      upstash: upstashUrl ? { url: upstashUrl, token: upstashToken! } : undefined,
      tools: values.tools ?? [],
      token,
      logLevel: logLevel as LogLevelName,
    },
  };
}

function nonEmpty(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '') throw new UsageError(`${flag} needs a value`);
  return value;
}
