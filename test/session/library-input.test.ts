import { describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { collect } from '../helpers/broker.js';

// What library code hands the broker, which TypeScript types do not guard at run time.
//
// `broker.execute(code, { context })`: the context is what JSON carries,
// for the guest and for tool handlers alike; one JSON cannot carry is a VALIDATION_ERROR. Such
// contexts used to fail with STORE_UNAVAILABLE, or a raw DataCloneError for a function.
describe('execute() with a context JSON cannot carry as it is', () => {
  it('gives the guest and tool handlers the JSON value, and refuses BigInts, cycles and non-objects', async () => {
    const tools = new ToolRegistry();
    tools.register({ name: 'ctx', description: 'returns its context', parameters: {}, handler: async (_a, c) => c!.context });
    const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false, tools });
    try {
      const context = { n: 1, when: new Date(0), fn: () => 1, gone: undefined, list: [1, undefined] };
      const final = (await collect(broker.execute('return { guest: context, tool: await callTool("ctx", {}) }', { context }))).at(-1)!;
      if (final.type !== 'final' || !final.payload.ok) throw new Error(JSON.stringify(final));
      const json = { n: 1, when: '1970-01-01T00:00:00.000Z', list: [1, null] };
      expect(final.payload.result).toEqual({ guest: json, tool: json });

      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      for (const bad of [{ big: 1n }, cyclic, { toJSON: () => 5 }]) {
        await expect(collect(broker.execute('return 1', { context: bad as Record<string, unknown> }))).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
      }
      const after = (await collect(broker.execute('return 1 + 2'))).at(-1)!;
      expect(after.type === 'final' && after.payload.ok && after.payload.result).toBe(3);
    } finally {
      await broker.close();
    }
  });
});

describe('execute() options', () => {
  it('takes null as no options and refuses options that are not an object', async () => {
    const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false });
    try {
      const final = (await collect(broker.execute('return 1 + 2', null as never))).at(-1)!;
      expect(final.type === 'final' && final.payload.ok && final.payload.result).toBe(3);
      await expect(collect(broker.execute('return 1', 'fast' as never))).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    } finally {
      await broker.close();
    }
  });
});

describe('the broker API with ids of the wrong type, and after close()', () => {
  it('answers no session for non-string ids, and refuses to listen once closed', async () => {
    const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false });
    const unreadable = {
      toString(): string {
        throw new Error('unreadable id');
      },
    };
    expect(await broker.getSession(unreadable as never)).toBeNull();
    await expect(broker.submitToolResult(unreadable as never, 'c_1', 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(broker.submitToolResult('s_nope', unreadable as never, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(broker.cancel(unreadable as never)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await broker.close();
    await expect(broker.listen(0)).rejects.toThrow('the broker is closed');
  });
});
