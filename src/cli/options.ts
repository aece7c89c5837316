import type { BrokerOptions } from '../broker-options.js';
import type { LogLevelName } from '../logger.js';

/** What the broker flags ask for, as `BrokerOptions` (only the keys a flag set). */
export type CliBrokerOptions = Pick<BrokerOptions, 'cors' | 'metrics' | 'docs' | 'limits' | 'maxConcurrentSessions' | 'rateLimiting'>;

/** What the command line asks for, validated. */
export interface CliOptions {
  port: number;
  host: string | undefined;
  redisUrl: string | undefined;
  upstash: { url: string; token: string } | undefined;
  tools: string[];
  token: string | undefined;
  logLevel: LogLevelName;
  /** CORS, metrics, docs, limits, max sessions and rate limits. */
  broker: CliBrokerOptions;
}

export type CliCommand = { kind: 'help' } | { kind: 'version' } | { kind: 'serve'; options: CliOptions };

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
  'cors-origin'?: string[];
  metrics?: boolean;
  'no-docs'?: boolean;
  timeout?: string;
  'memory-limit'?: string;
  'max-tool-calls'?: string;
  'max-sessions'?: string;
  'rate-limit'?: string;
  'rate-limit-window'?: string;
  help?: boolean;
  version?: boolean;
}

/** Checks parsed flags (with environment fallbacks) and builds the options. */
export function toCliCommand(values: RawCliValues, env: Record<string, string | undefined>): CliCommand {
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
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
      broker: brokerFlags(values),
    },
  };
}

/** The broker flags as `BrokerOptions`. */
function brokerFlags(values: RawCliValues): CliBrokerOptions {
  const out: CliBrokerOptions = {};
  const origins = values['cors-origin'];
  if (origins !== undefined) {
    for (const o of origins) {
      if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o)) {
        throw new UsageError(`--cors-origin must be * or an origin like https://app.example.com (no path), not ${JSON.stringify(o)}`);
      }
    }
    out.cors = { origin: origins.includes('*') ? '*' : origins };
  }
  if (values.metrics) out.metrics = true;
  if (values['no-docs']) out.docs = false;
  const limits: NonNullable<CliBrokerOptions['limits']> = {};
  const timeout = count(values.timeout, '--timeout', 1);
  if (timeout !== undefined) limits.timeoutMs = timeout;
  const memory = bytes(values['memory-limit'], '--memory-limit');
  if (memory !== undefined) limits.memoryLimitBytes = memory;
  const calls = count(values['max-tool-calls'], '--max-tool-calls', 0);
  if (calls !== undefined) limits.maxToolCalls = calls;
  if (Object.keys(limits).length > 0) out.limits = limits;
  const sessions = count(values['max-sessions'], '--max-sessions', 1);
  if (sessions !== undefined) out.maxConcurrentSessions = sessions;
  const maxRequests = count(values['rate-limit'], '--rate-limit', 1);
  const windowMs = count(values['rate-limit-window'], '--rate-limit-window', 1);
  if (windowMs !== undefined && maxRequests === undefined) throw new UsageError('--rate-limit-window needs --rate-limit');
  if (maxRequests !== undefined) out.rateLimiting = { maxRequests, windowMs: windowMs ?? 60_000 };
  return out;
}

/** A whole number of at least `min`. */
function count(text: string | undefined, flag: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${flag} must be a whole number${min > 0 ? ` of at least ${min}` : ''}, not ${JSON.stringify(text)}`);
  }
  return n;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Bytes, with an optional unit: `67108864`, `64MiB`, `64mb`, `1g` (units are powers of 1024). */
function bytes(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  const n = match && unit !== undefined ? Number(match[1]) * unit : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a size like 64MiB or a number of bytes, not ${JSON.stringify(text)}`);
  return n;
}

function nonEmpty(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '') throw new UsageError(`${flag} needs a value`);
  return value;
}
