import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import type { BrokerOptions, ExecuteOptions } from '../../src/broker-options.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import { silentLogger } from '../../src/logger.js';
import { identifierFor, namespacePlan } from '../../src/tools/namespace.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { execute, finalOf } from '../helpers/broker.js';
import { startWorkerd } from '../helpers/workerd.js';

function registry(): ToolRegistry {
  const tools = new ToolRegistry();
  const users = [
    { id: '1', name: 'Alice' },
    { id: '2', name: 'Bob' },
    { id: '3', name: 'Cy' },
  ];
  tools.register({
    name: 'users:list',
    description: 'List users',
    parameters: { limit: { type: 'number', description: 'Max results', default: 10 } },
    outputSchema: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } }, required: ['id', 'name'] } },
    handler: async (args) => users.slice(0, Number(args.limit)),
  });
  tools.register({
    name: 'users:fail',
    description: 'Always fails',
    parameters: {},
    handler: async () => {
      throw Object.assign(new Error('no luck'), { code: 'NOPE' });
    },
  });
  tools.register({ name: 'ping', description: 'Pong', parameters: {}, handler: async () => 'pong' });
  tools.register({ name: 'pet-store:get.pet', description: 'A pet', parameters: {}, handler: async () => ({ pet: 'rex' }) });
  // An OpenAPI action, as the catalog registers one: by service.
  tools.register({ name: 'petstore_listPets', description: 'Pets', parameters: {}, source: 'petstore', handler: async () => ['a', 'b'] });
  return tools;
}

async function run(broker: EnclaveBroker, code: string, options: ExecuteOptions = {}) {
  const events: StreamEvent[] = [];
  for await (const e of broker.execute(code, options)) events.push(e);
  const final = events[events.length - 1]!;
  if (final.type !== 'final') throw new Error('no final');
  return { final: final.payload, calls: events.filter((e) => e.type === 'tool_call').map((e) => (e.payload as { toolName: string }).toolName) };
}

for (const [label, options] of [
  ['inline', { runtimePool: false }],
  ['worker pool', { runtimePool: { minSize: 1, maxSize: 1 } }],
] as [string, BrokerOptions][]) {
  describe(`the guest's tools object (${label})`, () => {
    let broker: EnclaveBroker;
    beforeAll(() => {
      broker = new EnclaveBroker({ logger: silentLogger, tools: registry(), ...options });
    });
    afterAll(() => broker.close());

    it('calls tools as tools.<namespace>.<name>(args), exactly as callTool does', async () => {
      const { final, calls } = await run(
        broker,
        `const users = await tools.users.list({ limit: 2 });
         const pong = await tools.ping();
         const pet = await tools.pet_store.get_pet({});
         const pets = await tools.petstore.listPets();
         return { users, pong, pet, pets };`,
      );
      expect(final).toMatchObject({
        ok: true,
        result: {
          users: [
            { id: '1', name: 'Alice' },
            { id: '2', name: 'Bob' },
          ],
          pong: 'pong',
          pet: { pet: 'rex' },
          pets: ['a', 'b'],
        },
      });
      expect(calls).toEqual(['users:list', 'ping', 'pet-store:get.pet', 'petstore_listPets']);
    });

    it('is frozen, made of guest functions, and rejects as callTool does', async () => {
      const { final } = await run(
        broker,
        `'use strict';
         let threw = false;
         try { tools.users.list = null; } catch (e) { threw = e instanceof TypeError; }
         let code;
         try { await tools.users.fail(); } catch (e) { code = e.code; }
         return {
           frozen: Object.isFrozen(tools) && Object.isFrozen(tools.users),
           threw,
           keys: Object.keys(tools).sort(),
           members: Object.keys(tools.users),
           name: tools.users.list.name,
           notCallTool: tools.users.list !== callTool && typeof tools.users.list === 'function',
           code,
         };`,
      );
      expect(final.result).toEqual({
        frozen: true,
        threw: true,
        keys: ['pet_store', 'petstore', 'ping', 'users'],
        members: ['list', 'fail'],
        name: 'list',
        notCallTool: true,
        code: 'TOOL_ERROR',
      });
    });

    it('holds only the tools the caller may call', async () => {
      const { final } = await run(broker, 'return Object.keys(tools)', { identity: { permissions: ['users:*'] } });
      expect(final.result).toEqual(['users']);
    });

    it('does not change the meaning of code that has its own tools', async () => {
      expect((await run(broker, 'const tools = [1, 2]; return tools.length')).final.result).toBe(2);
      expect((await run(broker, 'tools = { mine: true }; return globalThis.tools')).final.result).toEqual({ mine: true });
      expect((await run(broker, 'var tools = 3; return tools')).final.result).toBe(3);
    });

    it('survives a guest that replaced the built-ins it is built with', async () => {
      const { final } = await run(
        broker,
        `Object.freeze = () => { throw new Error('patched'); };
         Object.defineProperty = () => { throw new Error('patched'); };
         Object.prototype.get = function () {};
         Function.prototype.bind = () => { throw new Error('patched'); };
         globalThis.callTool = null;
         return await tools.users.list({ limit: 1 });`,
      );
      expect(final).toMatchObject({ ok: true, result: [{ id: '1', name: 'Alice' }] });
    });

    it('exists only for code that names it', async () => {
      expect((await run(broker, "return typeof globalThis['to' + 'ols']")).final.result).toBe('undefined');
      expect((await run(broker, "// tools\nreturn typeof globalThis['to' + 'ols']")).final.result).toBe('object');
    });
  });
}

describe("the guest's tools object on Workers (a Durable Object per session)", () => {
  it('calls the example tools through tools.users', async () => {
    const w = await startWorkerd();
    try {
      const events = await execute(w.url, { code: 'const [a] = await tools.users.list({ limit: 1 }); return { a, b: await tools.users.get({ id: "2" }) }' });
      expect(finalOf(events)).toMatchObject({ ok: true, result: { a: { id: '1', name: 'Alice' }, b: { id: '2', name: 'Bob' } } });
      expect(events.filter((e) => e.type === 'tool_call').map((e) => (e.payload as { toolName: string }).toolName)).toEqual(['users:list', 'users:get']);
    } finally {
      await w.close();
    }
  }, 120_000);
});

describe('namespace mapping and declarations', () => {
  it('maps tool names to identifiers as documented', () => {
    expect(identifierFor('get-user.by id')).toBe('get_user_by_id');
    expect(identifierFor('2fa')).toBe('_2fa');
    const tools = new ToolRegistry();
    for (const name of ['a:x-y', 'a:x_y', 'users', 'users:list', 'plain']) tools.register({ name, description: name, parameters: {}, handler: async () => 1 });
    const plan = namespacePlan(tools.list());
    expect(plan.entries.map((e) => [e.namespace, e.member, e.tool.name])).toEqual([
      ['a', 'x_y', 'a:x-y'],
      ['users', 'list', 'users:list'],
      ['', 'plain', 'plain'],
    ]);
    // The first of two that map to one place keeps it; a function named like a namespace loses.
    expect(plan.unplaced.map((t) => t.name)).toEqual(['a:x_y', 'users']);
  });

  it('getDocumentation declares the tools object, with result types from outputSchema', () => {
    const doc = registry().getDocumentation({ style: 'namespace' });
    expect(doc).toContain('declare const tools: {');
    expect(doc).toContain('  users: {\n');
    expect(doc).toContain(
      '    /** List users */\n    list(args?: {\n      /** Max results (default: 10) */\n      limit?: number;\n    }): Promise<{\n      id: string;\n      name: string;\n    }[]>;',
    );
    expect(doc).toContain('  ping(args?: Record<string, never>): Promise<unknown>;');
    expect(doc).toContain('  petstore: {\n    /** Pets */\n    listPets(args?: Record<string, never>): Promise<unknown>;');
    expect(doc).toContain('// const result = await tools.users.list({ /* args */ });');
    // The permission filter applies in both forms.
    const onlyUsers = registry().getDocumentation((name) => name.startsWith('users:'), { style: 'namespace' });
    expect(onlyUsers).not.toContain('ping');
    const callTool = registry().getDocumentation();
    expect(callTool).toContain('declare function callTool(name: "users:list", args: {');
    expect(callTool).toContain('}): Promise<{\n  id: string;\n  name: string;\n}[]>;');
  });

  it('declares OpenAPI actions by service, with the result type of their 2xx JSON answer', async () => {
    const spec = {
      openapi: '3.1.0',
      info: { title: 'shop', version: '1' },
      components: { schemas: { Item: { type: 'object', properties: { id: { type: 'integer' }, name: { type: 'string' } }, required: ['id'] } } },
      paths: {
        '/items': {
          get: {
            operationId: 'listItems',
            summary: 'List items',
            responses: {
              '200': { description: 'ok', content: { 'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/Item' } } } } },
            },
          },
        },
        '/ping': { get: { operationId: 'ping', responses: { '204': { description: 'none' } } } },
      },
    };
    const shop = new EnclaveBroker({ logger: silentLogger, runtimePool: false, openapi: { sources: [{ name: 'shop', spec, baseUrl: 'http://127.0.0.1:9' }] } });
    try {
      await shop.ready();
      const doc = shop.tools!.getDocumentation({ style: 'namespace' });
      expect(doc).toContain(
        '  shop: {\n    /** List items */\n    listItems(args?: Record<string, never>): Promise<{\n      id: number;\n      name?: string;\n    }[]>;',
      );
      expect(doc).toContain('ping(args?: Record<string, never>): Promise<unknown>;');
      const { final } = await run(shop, 'return [typeof tools.shop.listItems, typeof tools.shop.ping]');
      expect(final.result).toEqual(['function', 'function']);
    } finally {
      await shop.close();
    }
  });

  it('declares unions and constants of JSON Schema', () => {
    const tools = new ToolRegistry();
    tools.register({
      name: 'pick',
      description: 'Pick',
      parameters: {},
      inputSchema: { type: 'object', properties: { mode: { anyOf: [{ type: 'string' }, { type: 'null' }] }, kind: { const: 'x' } } },
      handler: async () => 1,
    });
    const doc = tools.getDocumentation();
    expect(doc).toContain('mode?: string | null;');
    expect(doc).toContain('kind?: "x";');
  });

  it('declares tools that lost their place for callTool', () => {
    const tools = new ToolRegistry();
    tools.register({ name: 'users', description: 'Flat', parameters: {}, handler: async () => 1 });
    tools.register({ name: 'users:list', description: 'Listed', parameters: {}, handler: async () => 1 });
    const doc = tools.getDocumentation({ style: 'namespace' });
    expect(doc).toContain('declare function callTool(name: "users", args: Record<string, never>): Promise<unknown>;');
    expect(doc).toContain('    list(args?: Record<string, never>): Promise<unknown>;');
  });
});
