import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import { EnclaveClient } from '../../src/client/index.js';
import { codemodeName, EnclaveExecutor, guestSource, type ResolvedProvider } from '../../src/integrations/codemode.js';
import { silentLogger } from '../../src/logger.js';
import { startBroker, type TestServer } from '../helpers/broker.js';

let broker: EnclaveBroker;
let server: TestServer;

beforeAll(async () => {
  broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false });
  server = await startBroker({ runtimePool: false });
});
afterAll(async () => {
  await broker.close();
  await server.close();
});

function providers(calls: string[]): ResolvedProvider[] {
  return [
    {
      name: 'codemode',
      fns: {
        getWeather: async (args) => {
          calls.push(`getWeather:${JSON.stringify(args)}`);
          return { tempC: 21 };
        },
        'list-items': async () => ['a', 'b'],
        delete: async (args) => ({ deleted: (args as { id: string }).id }),
      },
    },
    { name: 'db', fns: { count: async () => 7, fail: async () => Promise.reject(Object.assign(new Error('db is down'), { code: 'DB_DOWN' })) } },
  ];
}

// What codemode's createCodeTool hands an executor: its normalizeCode made the code an async arrow function.
const CODE = `async () => {
  const w = await codemode.getWeather({ city: 'Paris' });
  const n = await db.count();
  console.log('temp', w.tempC);
  console.error('oops');
  return { w, n, items: await codemode.list_items(), del: await codemode.delete_({ id: 'x' }), frozen: Object.isFrozen(codemode) };
}`;

describe('EnclaveExecutor (the @cloudflare/codemode Executor contract)', () => {
  for (const path of ['local broker', 'HTTP client'] as const) {
    it(`runs the code with each provider as a namespace and answers its calls (${path})`, async () => {
      const calls: string[] = [];
      const executor = new EnclaveExecutor(path === 'local broker' ? { broker } : { client: new EnclaveClient({ baseUrl: server.url }) });
      const out = await executor.execute(CODE, providers(calls));
      expect(out).toEqual({
        result: { w: { tempC: 21 }, n: 7, items: ['a', 'b'], del: { deleted: 'x' }, frozen: true },
        logs: ['temp 21', '[error] oops'],
      });
      expect(calls).toEqual(['getWeather:{"city":"Paris"}']);
    });

    it(`never throws: a failure is { error, logs } (${path})`, async () => {
      const executor = new EnclaveExecutor(path === 'local broker' ? { broker } : { client: new EnclaveClient({ baseUrl: server.url }) });
      const failed = await executor.execute("async () => { console.log('start'); return await db.fail(); }", providers([]));
      expect(failed.result).toBeUndefined();
      expect(failed.error).toContain('db is down');
      expect(failed.logs).toEqual(['start']);
      const syntax = await executor.execute('async () => { return (', providers([]));
      expect(syntax.error).toMatch(/SyntaxError|expecting|unexpected/i);
      const missing = await executor.execute('async () => codemode.nope({})', providers([]));
      expect(missing.error).toMatch(/not a function/);
    });
  }

  it('takes raw fns (the deprecated form) as the codemode namespace, and a plain function body', async () => {
    const executor = new EnclaveExecutor({ broker });
    expect(await executor.execute('async () => codemode.twice({ n: 4 })', { twice: async (a) => (a as { n: number }).n * 2 })).toEqual({ result: 8, logs: [] });
    expect(await executor.execute('const x = await codemode.twice({ n: 1 }); return x + 1', { twice: async (a) => (a as { n: number }).n * 2 })).toEqual({
      result: 3,
      logs: [],
    });
  });

  it('runs a provider prelude, which may add members to its namespace', async () => {
    const executor = new EnclaveExecutor({ broker });
    const out = await executor.execute('async () => codemode.double(5)', [
      {
        name: 'codemode',
        fns: { add: async (a) => (a as { x: number; y: number }).x + (a as { x: number; y: number }).y },
        prelude: 'codemode.double = (n) => codemode.add({ x: n, y: n });',
      },
    ]);
    expect(out).toEqual({ result: 10, logs: [] });
  });

  it('sends any method of a connector to its binding', async () => {
    const seen: unknown[] = [];
    const executor = new EnclaveExecutor({ client: new EnclaveClient({ baseUrl: server.url }) });
    const out = await executor.execute('async () => github.listIssues({ repo: "x" })', [], {
      connectors: [{ name: 'github', binding: { callTool: async (method, args) => (seen.push([method, args]), [1, 2]) } }],
    });
    expect(out).toEqual({ result: [1, 2], logs: [] });
    expect(seen).toEqual([['listIssues', { repo: 'x' }]]);
  });

  it('refuses provider names that are not identifiers, reserved, or repeated', async () => {
    const executor = new EnclaveExecutor({ broker });
    expect((await executor.execute('async () => 1', [{ name: 'a-b', fns: {} }])).error).toMatch(/not a valid JavaScript identifier/);
    expect((await executor.execute('async () => 1', [{ name: 'callTool', fns: {} }])).error).toMatch(/reserved/);
    expect(
      (
        await executor.execute('async () => 1', [
          { name: 'x', fns: {} },
          { name: 'x', fns: {} },
        ])
      ).error,
    ).toMatch(/Duplicate/);
    expect(() => new EnclaveExecutor({} as never)).toThrow(/broker or a client/);
    const withHandler = new EnclaveBroker({ logger: silentLogger, toolHandler: async () => 1, runtimePool: false });
    expect(() => new EnclaveExecutor({ broker: withHandler })).toThrow(/toolHandler/);
  });

  it('names tools as codemode’s generated types do', () => {
    expect(codemodeName('list-items')).toBe('list_items');
    expect(codemodeName('get.user name')).toBe('get_user_name');
    expect(codemodeName('2fa')).toBe('_2fa');
    expect(codemodeName('delete')).toBe('delete_');
    expect(guestSource('async () => 1;', [], [])).toContain('const __codemodeMain = (async () => 1\n);');
  });
});
