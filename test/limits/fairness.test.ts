import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import { run, spec } from '../pool/helpers.js';

/**
 * SPEC §6: a session that spins never delays another session's start by more than tens of
 * milliseconds. K scripts spinning until a distant deadline, sent together, then a light one:
 * the light one answers while every spinner still runs (no ordering holds when it has to wait
 * for a spinner's deadline, which is 60 s away).
 */
describe('fairness on the worker pool', () => {
  const pool = new WorkerPoolExecutor({});
  beforeAll(() => pool.warm());
  afterAll(() => pool.close());

  for (const k of [1, 2, 4, 8]) {
    it(`answers a light session while ${k} spinning one${k > 1 ? 's' : ''} hold every worker`, async () => {
      const spinners = Array.from({ length: k }, () => run(pool, spec('while (true) {}', { timeoutMs: 60_000 })));
      const light = run(pool, spec('return 1 + 2'));
      expect(await light.done).toEqual({ ok: true, resultJson: '3' });
      expect(spinners.filter((s) => s.finished())).toEqual([]);
      // A second light one, sent once the spinners surely hold their threads.
      await new Promise((r) => setTimeout(r, 50));
      expect(await run(pool, spec('return [1, 2].length')).done).toEqual({ ok: true, resultJson: '2' });
      expect(spinners.filter((s) => s.finished())).toEqual([]);
      for (const s of spinners) s.handle.abort({ code: 'CANCELLED', message: 'done' });
      for (const s of spinners) expect(await s.done).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
    });
  }
});
