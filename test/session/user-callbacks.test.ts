import { afterEach, describe, expect, it, vi } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import type { Logger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { collect } from '../helpers/broker.js';

// The user's own callbacks (logger, event listeners) may throw or reject: sessions go on, and
// nothing is left as an unhandled rejection (which ends a Node process by default). Before,
// a throwing logger failed every session with STORE_UNAVAILABLE.
const EVENTS = ['session:created', 'session:completed', 'session:error', 'tool:called', 'tool:completed'] as const;

afterEach(() => {
  vi.restoreAllMocks();
});

for (const mode of ['inline', 'pool'] as const) {
  describe(`user callbacks that fail (${mode})`, () => {
    it('a logger that throws and listeners that throw or reject leave sessions and the process unharmed', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (err: unknown) => unhandled.push(err);
      process.on('unhandledRejection', onUnhandled);
      const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
      const fail = (): never => {
        throw new Error('logger down');
      };
      const logger: Logger = { debug: fail, info: fail, warn: fail, error: fail, child: () => logger };
      const tools = new ToolRegistry();
      tools.register({ name: 'noop', description: 'returns 1', parameters: {}, handler: async () => 1 });
      const broker = new EnclaveBroker({ logger, tools, ...(mode === 'inline' ? { runtimePool: false as const } : {}) });
      const calls: string[] = [];
      for (const event of EVENTS) {
        broker.on(event, () => {
          calls.push(event);
          throw new Error(`sync ${event}`);
        });
        broker.on(event, async () => {
          throw new Error(`async ${event}`);
        });
        broker.once(event, async () => {
          throw Object.defineProperty({}, 'message', {
            get() {
              throw new Error('unreadable');
            },
          });
        });
      }
      try {
        const ok = (await collect(broker.execute('return await callTool("noop", {}) + 2'))).at(-1)!;
        expect(ok.type === 'final' && ok.payload.ok && ok.payload.result).toBe(3);
        const bad = (await collect(broker.execute('throw new Error("x")'))).at(-1)!;
        expect(bad.type === 'final' && !bad.payload.ok && bad.payload.error?.code).toBe('RUNTIME_ERROR');
        await new Promise((r) => setTimeout(r, 20));
        expect(unhandled).toEqual([]);
        expect(new Set(calls)).toEqual(new Set(EVENTS));
        // Told once on the console, not once per line.
        expect(consoleError.mock.calls.filter((c) => String(c[0]).includes('the logger threw'))).toHaveLength(1);
      } finally {
        await broker.close();
        process.off('unhandledRejection', onUnhandled);
      }
    });
  });
}
