import { describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import { BrokerError } from '../../src/protocol/errors.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { collect } from '../helpers/broker.js';

// A server tool's error reaches the guest with its code and its details as JSON carries them.
// Details JSON cannot carry once took the whole process down with the pool (a DataCloneError
// thrown while posting to the worker) and ended the session with INTERNAL_ERROR inline.
for (const mode of ['inline', 'pool'] as const) {
  describe(`tool error details (${mode})`, () => {
    it('arrive as JSON; details JSON cannot carry are left out, and the broker goes on', async () => {
      const tools = new ToolRegistry();
      tools.register({
        name: 'dated',
        description: 'fails with a Date and a function in its details',
        parameters: {},
        handler: async () => {
          throw new BrokerError('DATED', 'dated failure', { when: new Date(0), n: 1, skip: () => 1 });
        },
      });
      tools.register({
        name: 'bigint',
        description: 'fails with details JSON cannot carry',
        parameters: {},
        handler: async () => {
          throw new BrokerError('BIG', 'big failure', { big: 1n, fn() {} });
        },
      });
      tools.register({
        name: 'huge',
        description: 'fails with details larger than a tool result may be',
        parameters: {},
        handler: async () => {
          throw new BrokerError('HUGE', 'huge failure', { text: 'x'.repeat(4096) });
        },
      });
      const broker = new EnclaveBroker({
        logger: silentLogger,
        tools,
        limits: { maxResultBytes: 1024 },
        ...(mode === 'inline' ? { runtimePool: false as const } : {}),
      });
      try {
        const code = `
          const out = [];
          for (const name of ['dated', 'bigint', 'huge']) {
            try { await callTool(name, {}); } catch (e) { out.push({ code: e.code, message: e.message, has: 'details' in e, details: e.details }); }
          }
          return out;`;
        for (let round = 0; round < 2; round++) {
          const final = (await collect(broker.execute(code))).at(-1)!;
          if (final.type !== 'final' || !final.payload.ok) throw new Error(JSON.stringify(final));
          expect(final.payload.result).toEqual([
            { code: 'DATED', message: 'dated failure', has: true, details: { when: '1970-01-01T00:00:00.000Z', n: 1 } },
            { code: 'BIG', message: 'big failure', has: false },
            { code: 'HUGE', message: 'huge failure', has: false },
          ]);
        }
        const after = (await collect(broker.execute('return 1 + 2'))).at(-1)!;
        expect(after.type === 'final' && after.payload.ok && after.payload.result).toBe(3);
      } finally {
        await broker.close();
      }
    });
  });
}

describe('a tool error whose properties throw when read', () => {
  it('fails the call with TOOL_ERROR instead of leaving it unsettled', async () => {
    const tools = new ToolRegistry();
    tools.register({
      name: 'trap',
      description: 'throws an Error whose message getter throws',
      parameters: {},
      handler: async () => {
        const err = new Error('hidden');
        Object.defineProperty(err, 'message', {
          get() {
            throw new Error('trap');
          },
        });
        throw err;
      },
    });
    tools.register({
      name: 'trapDetails',
      description: 'throws a BrokerError whose details getter throws',
      parameters: {},
      handler: async () => {
        throw new BrokerError('TRAP', 'details trap', {
          get value() {
            throw new Error('trap');
          },
        });
      },
    });
    const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false, tools, limits: { timeoutMs: 10_000 } });
    try {
      const code = `
        const out = [];
        for (const name of ['trap', 'trapDetails']) {
          try { await callTool(name, {}); } catch (e) { out.push(e.code + ': ' + e.message + ' ' + ('details' in e)); }
        }
        return out;`;
      const final = (await collect(broker.execute(code))).at(-1)!;
      if (final.type !== 'final' || !final.payload.ok) throw new Error(JSON.stringify(final));
      expect(final.payload.result).toEqual(['TOOL_ERROR: the tool failed false', 'TRAP: details trap false']);
    } finally {
      await broker.close();
    }
  });
});
