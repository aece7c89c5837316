import { describe, expect, it } from 'vitest';
import { parseCliArgs } from '../../src/cli/args.node.js';
import { UsageError } from '../../src/cli/options.js';
import { constantTimeEqual } from '../../src/cli/token-auth.js';

const parse = (args: string[], env: Record<string, string> = {}) => parseCliArgs(args, env);

function usage(args: string[], env: Record<string, string> = {}): string {
  try {
    parse(args, env);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error(`no usage error for ${args.join(' ')}`);
}

describe('parseCliArgs', () => {
  it('defaults', () => {
    expect(parse([])).toEqual({
      kind: 'serve',
      options: { port: 3001, host: undefined, redisUrl: undefined, upstash: undefined, tools: [], token: undefined, logLevel: 'info', broker: {} },
    });
  });

  it('reads every flag', () => {
    const cmd = parse([
      '-p',
      '0',
      '-H',
      '127.0.0.1',
      '--redis-url',
      'redis://x:1',
      '--tools',
      'a.js',
      '--tools',
      'b.js',
      '--token',
      't',
      '--log-level',
      'warn',
    ]);
    expect(cmd).toEqual({
      kind: 'serve',
      options: { port: 0, host: '127.0.0.1', redisUrl: 'redis://x:1', upstash: undefined, tools: ['a.js', 'b.js'], token: 't', logLevel: 'warn', broker: {} },
    });
    expect(parse(['--upstash-url', 'http://127.0.0.1:1', '--upstash-token', 'k'])).toMatchObject({
      options: { upstash: { url: 'http://127.0.0.1:1', token: 'k' }, redisUrl: undefined },
    });
    expect(parse(['--help'])).toEqual({ kind: 'help' });
    expect(parse(['-h', '--port', '1'])).toEqual({ kind: 'help' });
    expect(parse(['--version'])).toEqual({ kind: 'version' });
    expect(parse(['-v'])).toEqual({ kind: 'version' });
  });

  it('reads the broker flags as BrokerOptions', () => {
    const cmd = parse([
      '--cors-origin',
      'https://app.example.com',
      '--cors-origin',
      'http://localhost:5173',
      '--metrics',
      '--no-docs',
      '--timeout',
      '5000',
      '--memory-limit',
      '32MiB',
      '--max-tool-calls',
      '0',
      '--max-sessions',
      '50',
      '--rate-limit',
      '100',
      '--rate-limit-window',
      '1000',
    ]);
    expect(cmd).toMatchObject({
      options: {
        broker: {
          cors: { origin: ['https://app.example.com', 'http://localhost:5173'] },
          metrics: true,
          docs: false,
          limits: { timeoutMs: 5000, memoryLimitBytes: 32 * 1024 * 1024, maxToolCalls: 0 },
          maxConcurrentSessions: 50,
          rateLimiting: { maxRequests: 100, windowMs: 1000 },
        },
      },
    });
    expect(parse(['--cors-origin', '*', '--cors-origin', 'https://a.b'])).toMatchObject({ options: { broker: { cors: { origin: '*' } } } });
    expect(parse(['--rate-limit', '5'])).toMatchObject({ options: { broker: { rateLimiting: { maxRequests: 5, windowMs: 60_000 } } } });
    expect(parse(['--memory-limit', '1048576'])).toMatchObject({ options: { broker: { limits: { memoryLimitBytes: 1048576 } } } });
  });

  it('falls back to the environment', () => {
    expect(parse([], { PORT: '4000', REDIS_URL: 'redis://r:1', ENCLAVE_BROKER_TOKEN: 'e', LOG_LEVEL: 'debug' })).toMatchObject({
      options: { port: 4000, redisUrl: 'redis://r:1', token: 'e', logLevel: 'debug' },
    });
    // A flag for one store beats the environment's other store.
    expect(parse(['--upstash-url', 'https://u', '--upstash-token', 'k'], { REDIS_URL: 'redis://r:1' })).toMatchObject({
      options: { redisUrl: undefined, upstash: { url: 'https://u' } },
    });
  });

  it('refuses bad command lines with one line', () => {
    expect(usage(['--bogus'])).toContain('--bogus');
    expect(usage(['extra'])).toContain('extra');
    expect(usage(['--port', 'abc'])).toContain('--port');
    expect(usage(['--port', '70000'])).toContain('--port');
    expect(usage(['--port'])).toContain('--port');
    expect(usage(['--log-level', 'loud'])).toContain('--log-level');
    expect(usage(['--redis-url', 'redis://a', '--upstash-url', 'https://b', '--upstash-token', 'k'])).toContain('not both');
    expect(usage(['--redis-url', 'http://a'])).toContain('redis://');
    expect(usage(['--upstash-url', 'https://b'])).toContain('--upstash-token');
    expect(usage(['--upstash-token', 'k'])).toContain('--upstash-url');
    expect(usage(['--token', ''])).toContain('--token');
    expect(usage(['--cors-origin', 'app.example.com'])).toContain('--cors-origin');
    expect(usage(['--cors-origin', 'https://a.b/path'])).toContain('--cors-origin');
    expect(usage(['--timeout', '0'])).toContain('--timeout');
    expect(usage(['--timeout', '1.5'])).toContain('--timeout');
    expect(usage(['--memory-limit', '64 parsecs'])).toContain('--memory-limit');
    expect(usage(['--max-tool-calls', '-1'])).toContain('--max-tool-calls');
    expect(usage(['--max-sessions', '0'])).toContain('--max-sessions');
    expect(usage(['--rate-limit-window', '1000'])).toContain('--rate-limit');
    expect(usage(['--metrics=yes'])).toContain('--metrics');
  });
});

describe('constantTimeEqual', () => {
  it('compares', async () => {
    expect(await constantTimeEqual('secret', 'secret')).toBe(true);
    expect(await constantTimeEqual('secret', 'secreT')).toBe(false);
    expect(await constantTimeEqual('secret', 'secret-longer')).toBe(false);
    expect(await constantTimeEqual('', '')).toBe(true);
  });
});
