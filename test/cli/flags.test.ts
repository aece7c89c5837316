// The CLI as a newcomer runs it: --version, a port in use, and the broker flags that spare a
// browser-facing deployment from writing code.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EnclaveClient, RateLimitError, SandboxError } from '../../src/client/index.js';
import { runCli, serveCli } from '../helpers/cli-process.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const version = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }).version;

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, server };
}

describe('enclave-broker --version', () => {
  it('prints the package version and exits 0', async () => {
    for (const flag of ['--version', '-v']) {
      const run = await runCli([flag]);
      expect(run).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });
});

describe('a port in use', () => {
  it('the CLI prints one line and exits 1 (it used to hang)', async () => {
    const { port, server } = await occupiedPort();
    try {
      const run = await runCli(['--port', String(port), '--host', '127.0.0.1']);
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toContain('EADDRINUSE');
    } finally {
      server.close();
    }
  });

  it('in the library, a failed listen() leaves nothing running: the process ends by itself', async () => {
    const { port, server } = await occupiedPort();
    try {
      const script = `
        import { EnclaveBroker } from ${JSON.stringify(`${root}src/index.ts`)};
        const broker = new EnclaveBroker({ runtimePool: { minSize: 2 } });
        try {
          await broker.listen(${port}, '127.0.0.1');
          console.log('listening?');
        } catch (err) {
          console.log('refused', err.code);
        }`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(out.trim()).toBe('refused EADDRINUSE');
      expect(code).toBe(0);
    } finally {
      server.close();
    }
  });
});

describe('broker flags', () => {
  it('--cors-origin, --metrics, --no-docs, --timeout, --max-tool-calls, --rate-limit act on the served broker', async () => {
    const cli = await serveCli([
      '--cors-origin',
      'https://app.example.com',
      '--metrics',
      '--no-docs',
      '--timeout',
      '300',
      '--memory-limit',
      '16MiB',
      '--max-tool-calls',
      '1',
      '--max-sessions',
      '7',
      '--rate-limit',
      '6',
      '--rate-limit-window',
      '60000',
    ]);
    try {
      const preflight = (origin: string) => fetch(`${cli.url}/execute`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      expect((await preflight('https://app.example.com')).headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect((await preflight('https://evil.example.com')).headers.get('access-control-allow-origin')).toBeNull();
      expect((await fetch(`${cli.url}/metrics`)).status).toBe(200);
      expect((await fetch(`${cli.url}/openapi.json`)).status).toBe(404);

      const client = new EnclaveClient({ baseUrl: cli.url, retry: { budgetMs: 0 } });
      const slow = await client.run('for (;;) {}').catch((e: unknown) => e);
      expect(slow).toBeInstanceOf(SandboxError);
      expect(slow).toMatchObject({ code: 'TIMEOUT' });
      const calls = await client.run('await callTool("a", {}); await callTool("b", {})', { tools: { a: () => 1, b: () => 2 } }).catch((e: unknown) => e);
      expect(calls).toMatchObject({ code: 'MAX_TOOL_CALLS' });
      const init = await fetch(`${cli.url}/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":"return 1"}' });
      const first = JSON.parse((await init.text()).split('\n')[0]!) as { payload: { limits: Record<string, number> } };
      expect(first.payload.limits).toMatchObject({ timeoutMs: 300, maxToolCalls: 1, memoryLimitBytes: 16 * 1024 * 1024 });
      // Six requests counted so far (two preflights are not): the seventh is refused.
      const limited = await client.run('return 1').catch((e: unknown) => e);
      expect(limited).toBeInstanceOf(RateLimitError);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });
});
