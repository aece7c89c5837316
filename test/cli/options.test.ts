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
      options: { port: 3001, host: undefined, redisUrl: undefined, upstash: undefined, tools: [], token: undefined, logLevel: 'info' },
    });
  });

  it('reads every flag', () => {
    const cmd = parse(['-p', '0', '-H', '127.0.0.1', '--redis-url', 'redis://x:1', '--tools', 'a.js', '--tools', 'b.js', '--token', 't', '--log-level', 'warn']);
    expect(cmd).toEqual({
      kind: 'serve',
      options: { port: 0, host: '127.0.0.1', redisUrl: 'redis://x:1', upstash: undefined, tools: ['a.js', 'b.js'], token: 't', logLevel: 'warn' },
    });
    expect(parse(['--upstash-url', 'http://127.0.0.1:1', '--upstash-token', 'k'])).toMatchObject({
      options: { upstash: { url: 'http://127.0.0.1:1', token: 'k' }, redisUrl: undefined },
    });
    expect(parse(['--help'])).toEqual({ kind: 'help' });
    expect(parse(['-h', '--port', '1'])).toEqual({ kind: 'help' });
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
