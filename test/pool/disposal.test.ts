import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InlineExecutor } from '../../src/pool/inline.js';
import { run, spec } from './helpers.js';

let executor: InlineExecutor;
beforeAll(async () => {
  executor = new InlineExecutor();
  await executor.warm();
});
afterAll(async () => {
  await executor.close();
});

const heap = () => executor.stats().wasmHeapBytes as number;

describe('disposal of ended sandboxes', () => {
  it('keeps the WASM heap flat when sessions run back to back in microtasks only', async () => {
    expect(heap()).toBeGreaterThan(0);
    // Grow to the steady state first, then run many more: the heap must not follow the count.
    for (let i = 0; i < 50; i++) await run(executor, spec('return 1 + 2')).done;
    const before = heap();
    for (let i = 0; i < 600; i++) expect(await run(executor, spec('return [1, 2, 3].map((x) => x * 2)')).done).toMatchObject({ ok: true });
    // Ending sandboxes waited for an idle moment that never came: 600 runtimes (≈ 40 KiB and
    // up each) were alive at once, 32 MiB more here. Now at most a small batch is (the margin
    // allows one growth step of the WASM memory).
    expect(heap() - before).toBeLessThan(8 * 1024 * 1024);
  });
});
