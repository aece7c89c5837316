import { afterEach, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import type { FinalPayload, StreamEvent } from '../../src/protocol/events.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { MEMORY_BOMBS } from '../fixtures/memory-bombs.js';
import { collect } from '../helpers/broker.js';

/**
 * SPEC §6: a session that breaks a limit ends with its code; every other session goes on
 * unharmed. Twenty sessions wait on a tool while memory bombs and a native built-in that
 * ignores the interrupt run next to them (on the default worker pool, where they may share a
 * worker): all twenty then complete with their own answers.
 */
const NON_INTERRUPTIBLE = `const s = 'a'.repeat(3e7); return ${Array.from({ length: 4 }, () => "s.indexOf('ab')").join(' + ')}`;
const brokers: EnclaveBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

function final(events: StreamEvent[]): FinalPayload {
  const last = events.at(-1);
  if (last?.type !== 'final') throw new Error(`no final: ${JSON.stringify(events.map((e) => e.type))}`);
  return last.payload as FinalPayload;
}

for (const durable of [true, false]) {
  describe(`no collateral (${durable ? 'durable' : 'not durable'} sessions)`, () => {
    it('completes twenty sessions waiting on a tool while bombs and a built-in that ignores the interrupt run', async () => {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let waiting = 0;
      const tools = new ToolRegistry();
      tools.register({
        name: 'wait',
        description: 'Answers its own n once released',
        parameters: { n: { type: 'number', description: 'echoed', required: true } },
        handler: async (args) => {
          waiting++;
          await released;
          return { n: args.n };
        },
      });
      const broker = new EnclaveBroker({ tools, durable, logger: silentLogger, limits: { timeoutMs: 60_000 } });
      brokers.push(broker);
      const sessions = Array.from({ length: 20 }, (_, i) => collect(broker.execute(`const r = await callTool('wait', { n: ${i} }); return r.n * 10`)));
      while (waiting < 20) await new Promise((r) => setTimeout(r, 10));
      const hostile = [
        ...MEMORY_BOMBS.filter((b) => !b.name.startsWith('ropes')).map((b) => ({ code: b.code, expected: 'MEMORY_LIMIT' })),
        { code: NON_INTERRUPTIBLE, expected: 'TIMEOUT' },
      ];
      const outcomes = await Promise.all(
        hostile.map(({ code }) =>
          collect(
            broker.execute(code, {
              limits: { memoryLimitBytes: 32 * 1024 * 1024, timeoutMs: 20_000 },
              ...(code === NON_INTERRUPTIBLE ? { timeout: 200 } : {}),
            }),
          ),
        ),
      );
      outcomes.forEach((events, i) => expect(final(events).error?.code, hostile[i]!.code.slice(0, 60)).toBe(hostile[i]!.expected));
      release();
      const results = await Promise.all(sessions);
      results.forEach((events, i) => expect(final(events)).toMatchObject({ ok: true, result: i * 10 }));
    });
  });
}
