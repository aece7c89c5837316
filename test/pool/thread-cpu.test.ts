import { readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { threadCpuMs } from '../../src/pool/thread-cpu.node.js';

// A worker that reports its thread id, then, on each message, works (a fixed count of loop
// turns) or sleeps for \`ms\`, and answers.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { readlinkSync } = require('node:fs');
parentPort.postMessage(Number(readlinkSync('/proc/thread-self').split('/').pop()));
let sink = 0;
parentPort.on('message', ({ mode, ms }) => {
  if (mode === 'work') for (let i = 0; i < 1e8; i++) sink = (sink + i) | 0;
  else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  parentPort.postMessage('done');
});
`;

let worker: Worker | undefined;
afterEach(async () => {
  await worker?.terminate();
  worker = undefined;
});

function next(w: Worker): Promise<unknown> {
  return new Promise((resolve) => w.once('message', resolve));
}

describe('threadCpuMs (Linux procfs)', () => {
  it("reads this thread's CPU time, which grows as it runs", () => {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    const before = threadCpuMs(tid)!;
    let sink = 0;
    for (let i = 0; i < 1e8; i++) sink = (sink + i) | 0;
    expect(sink).not.toBe(0.5);
    expect(threadCpuMs(tid)! - before).toBeGreaterThan(5);
  });

  it("reads another thread's CPU time: it grows while the thread works, not while it waits", async () => {
    worker = new Worker(SOURCE, { eval: true });
    const tid = (await next(worker)) as number;
    const start = threadCpuMs(tid)!;
    expect(start).toBeGreaterThanOrEqual(0);

    worker.postMessage({ mode: 'sleep', ms: 100 });
    await next(worker);
    const slept = threadCpuMs(tid)! - start;

    worker.postMessage({ mode: 'work' });
    await next(worker);
    const worked = threadCpuMs(tid)! - start - slept;

    expect(worked).toBeGreaterThan(5);
    expect(slept).toBeLessThan(worked / 4);
  });

  it('gives undefined for a thread that is gone, or none', async () => {
    worker = new Worker(SOURCE, { eval: true });
    const tid = (await next(worker)) as number;
    await worker.terminate();
    worker = undefined;
    expect(threadCpuMs(tid)).toBeUndefined();
    expect(threadCpuMs(undefined)).toBeUndefined();
  });
});
