import { afterAll, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import { silentLogger } from '../../src/logger.js';
import { collect } from '../helpers/broker.js';

// A timer due at or after the deadline never fires: the session ends with TIMEOUT. Before,
// its host timer (shortened to the time left + 1 ms) could fire before the deadline's own and
// the session ended ok, about once in 25 runs with 8 sessions at a time.
const ROUNDS = 5;
const AT_ONCE = 8;

function finalOf(events: StreamEvent[]) {
  const final = events.at(-1)!;
  if (final.type !== 'final') throw new Error(`the last event is ${final.type}`);
  return final.payload;
}

for (const mode of ['inline', 'pool'] as const) {
  for (const durable of [false, true]) {
    describe(`timers and the deadline (${mode}, ${durable ? 'durable' : 'not durable'})`, () => {
      const broker = new EnclaveBroker({ logger: silentLogger, durable, ...(mode === 'inline' ? { runtimePool: false as const } : {}) });
      afterAll(() => broker.close());

      it(`ends a wait on a timer longer than the time left with TIMEOUT, every time (${ROUNDS * AT_ONCE} runs)`, async () => {
        const outcomes: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const runs = Array.from({ length: AT_ONCE }, (_, i) => {
            // Due after the deadline by a wide margin, by a little, and exactly at it.
            const ms = [3000, 600, 500][i % 3];
            return collect(broker.execute(`await new Promise((r) => setTimeout(r, ${ms})); return 1`, { timeout: 500 }));
          });
          for (const events of await Promise.all(runs)) {
            const final = finalOf(events);
            outcomes.push(final.ok ? 'ok' : final.error!.code);
          }
        }
        expect(outcomes).toEqual(Array(ROUNDS * AT_ONCE).fill('TIMEOUT'));
      }, 60_000);

      it('still fires a timer due before the deadline, and a chain of them', async () => {
        const runs = Array.from({ length: AT_ONCE }, () =>
          collect(broker.execute('let n = 0; for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(() => r(n++), 10)); return n', { timeout: 5000 })),
        );
        for (const events of await Promise.all(runs)) expect(finalOf(events)).toMatchObject({ ok: true, result: 5 });
      }, 30_000);

      it('lets a timer due after the deadline be cleared, and the code end first', async () => {
        const final = finalOf(
          await collect(broker.execute('const t = setTimeout(() => {}, 10000); clearTimeout(t); setTimeout(() => {}, 10000); return 2', { timeout: 500 })),
        );
        expect(final).toMatchObject({ ok: true, result: 2 });
      });
    });
  }
}
