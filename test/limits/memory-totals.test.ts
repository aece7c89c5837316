import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InlineExecutor } from '../../src/pool/inline.js';
import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import type { Executor } from '../../src/pool/executor.js';
import { MEMORY_BOMBS } from '../fixtures/memory-bombs.js';
import { run, spec } from '../pool/helpers.js';

const LIMIT = 32 * 1024 * 1024;
/** SPEC §6: the host grows by at most 1.25 × the limit + 8 MiB while a session runs. */
const BOUND = 1.25 * LIMIT + 8 * 1024 * 1024;

/**
 * Every shape of the bomb corpus ends with MEMORY_LIMIT, and the process's resident memory
 * grows by no more than the bound meanwhile (sampled while it runs, and read right after: a
 * module's memory is only given back when the module is collected).
 */
function corpus(name: string, make: () => Executor & { close(): Promise<void>; warm(): Promise<void> }) {
  describe(`memory totals on ${name}`, () => {
    let executor: ReturnType<typeof make>;
    beforeAll(async () => {
      executor = make();
      await executor.warm();
      // One session first, so that what the first run of the code paths costs is not counted.
      await run(executor, spec('return [1, 2, 3].map((x) => x * 2)')).done;
    });
    afterAll(() => executor.close());

    for (const bomb of MEMORY_BOMBS) {
      it(`ends ${bomb.name} with MEMORY_LIMIT, the process growing by at most 1.25 × the limit + 8 MiB`, async () => {
        // The process's resident memory moves with more than the sandbox (the test runner, the
        // collector): a growth over the bound is measured once more, and the smaller counts.
        let growth = Infinity;
        for (let attempt = 0; attempt < 2 && growth > BOUND; attempt++) {
          (globalThis as { gc?: () => void }).gc?.();
          const before = process.memoryUsage.rss();
          let peak = before;
          const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
          const outcome = await run(executor, spec(bomb.code, { memoryLimitBytes: LIMIT, timeoutMs: 20_000 })).done;
          clearInterval(sampler);
          peak = Math.max(peak, process.memoryUsage.rss());
          expect(outcome).toMatchObject({ ok: false, error: { code: 'MEMORY_LIMIT' } });
          growth = Math.min(growth, peak - before);
        }
        expect(growth).toBeLessThanOrEqual(BOUND);
      });
    }
  });
}

corpus('the inline executor', () => new InlineExecutor());
corpus('the worker pool', () => new WorkerPoolExecutor({ minSize: 1, maxSize: 2 }));
