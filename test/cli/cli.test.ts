import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveClient, EnclaveError } from '../../src/client/index.js';
import { runCli, serveCli } from '../helpers/cli-process.js';
import { RedisServer } from '../helpers/redis-server.js';
import { UpstashBridge } from '../helpers/upstash-bridge.js';

let dir: string;
const registryUrl = pathToFileURL(join(process.cwd(), 'src/tools/registry.ts')).href;

function fixture(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

let toolsModule: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'enclave-cli-'));
  toolsModule = fixture(
    'tools.mjs',
    `
export const add = { name: 'math:add', description: 'Adds', parameters: { a: { type: 'number', description: 'a', required: true }, b: { type: 'number', description: 'b', default: 10 } }, handler: async (args) => args.a + args.b };
export const more = [
  { name: 'echo', description: 'Echoes', parameters: {}, handler: async (args) => args },
  { name: 'upper', description: 'Upper-cases', parameters: { s: { type: 'string', description: 's', required: true } }, handler: async (args) => args.s.toUpperCase() },
];
export const notATool = 42;
export default { name: 'hello', description: 'Greets', handler: async () => 'hi' };
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('enclave-broker (process)', () => {
  it('--help documents every flag and exits 0', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    for (const flag of ['--port', '--host', '--redis-url', '--upstash-url', '--upstash-token', '--tools', '--token', '--log-level', '--help']) {
      expect(run.stdout).toContain(flag);
    }
    expect(run.stderr).toBe('');
  });

  it('a bad flag prints one line to stderr and exits non-zero', async () => {
    const run = await runCli(['--prot', '3001']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('--prot');
  });

  it('a tools module that fails to load prints one line and exits non-zero', async () => {
    const broken = fixture('broken.mjs', 'export const x = ;\n');
    const throwing = fixture('throwing.mjs', "throw new Error('no database\\nsecond line');\n");
    const empty = fixture('empty.mjs', 'export const x = 1;\n');
    const cases: [string, string][] = [
      [broken, 'cannot load tools from'],
      [throwing, 'no database'],
      [empty, 'exports no tools'],
      [join(dir, 'missing.mjs'), 'cannot load tools from'],
    ];
    const runs = await Promise.all(cases.map(([path]) => runCli(['--port', '0', '--tools', path])));
    for (const [i, [, text]] of cases.entries()) {
      const run = runs[i]!;
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr.trim().split('\n'), run.stderr).toHaveLength(1);
      expect(run.stderr).toContain(text);
    }
  });

  it('serves with the memory store and the tools a module exports; SIGTERM exits 0', async () => {
    const cli = await serveCli(['--tools', toolsModule, '--log-level', 'info']);
    try {
      const client = new EnclaveClient({ baseUrl: cli.url });
      expect(await client.execute("return await callTool('math:add', { a: 1 })")).toBe(11);
      expect(await client.execute("return [await callTool('upper', { s: 'x' }), await callTool('hello', {}), await callTool('echo', { k: 1 })]")).toEqual([
        'X',
        'hi',
        { k: 1 },
      ]);
      // Names the module does not register go to the client.
      expect(await client.execute("return await callTool('local', {})", { tools: { local: async () => 'mine' } })).toBe('mine');
      expect((await client.health()).status).toBe('ok');
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('accepts a module exporting a ToolRegistry', async () => {
    const mod = fixture(
      'registry.mjs',
      `import { ToolRegistry } from ${JSON.stringify(registryUrl)};
export const tools = new ToolRegistry();
tools.register({ name: 'reg:one', description: 'One', parameters: {}, handler: async () => 1 });`,
    );
    const cli = await serveCli(['--tools', mod]);
    try {
      expect(await new EnclaveClient({ baseUrl: cli.url }).execute("return await callTool('reg:one', {})")).toBe(1);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });

  it('--token requires the bearer token on every route but /health', async () => {
    const cli = await serveCli(['--token', 's3cret']);
    try {
      const anonymous = await fetch(`${cli.url}/execute`, { method: 'POST', body: JSON.stringify({ code: 'return 1' }) });
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
      const wrong = new EnclaveClient({ baseUrl: cli.url, headers: { authorization: 'Bearer s3cre' } });
      const err = await wrong.execute('return 1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EnclaveError);
      expect(err).toMatchObject({ code: 'UNAUTHORIZED', status: 401 });
      const right = new EnclaveClient({ baseUrl: cli.url, headers: { authorization: 'Bearer s3cret' } });
      expect(await right.execute('return 2')).toBe(2);
      expect((await fetch(`${cli.url}/health`)).status).toBe(200);
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  });
});

describe('enclave-broker with a shared store', () => {
  let redis: RedisServer;
  let bridge: UpstashBridge;

  beforeAll(async () => {
    redis = await RedisServer.start();
    bridge = await UpstashBridge.start(redis.url, 'bridge-token');
  });
  afterAll(async () => {
    await bridge?.stop();
    await redis?.stop();
  });

  async function roundTrip(args: string[], store: string): Promise<void> {
    const cli = await serveCli(['--tools', toolsModule, ...args]);
    try {
      expect(cli.output()).toContain(`"store":"${store}"`);
      const client = new EnclaveClient({ baseUrl: cli.url });
      const stream = client.stream("return await callTool('math:add', { a: await callTool('local', {}) })", {
        tools: { local: async () => 5 },
      });
      let result: unknown;
      for await (const e of stream) if (e.type === 'final') result = e.payload.result;
      expect(result).toBe(15);
      expect(await client.getSession(stream.sessionId!)).toMatchObject({ status: 'completed' });
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  }

  it('--redis-url keeps sessions in redis-server', async () => {
    await roundTrip(['--redis-url', redis.url], 'redis');
  });

  it('--upstash-url keeps sessions in Upstash (REST bridge)', async () => {
    const before = bridge.requests.get('/pipeline') ?? 0;
    await roundTrip(['--upstash-url', bridge.url, '--upstash-token', 'bridge-token'], 'upstash');
    expect((bridge.requests.get('/pipeline') ?? 0) + (bridge.requests.get('/') ?? 0)).toBeGreaterThan(before);
  });

  it('an unreachable store prints one line and exits non-zero', async () => {
    const run = await runCli(['--port', '0', '--upstash-url', bridge.url, '--upstash-token', 'wrong', '--log-level', 'silent']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('cannot start');
  });
});
