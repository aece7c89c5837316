// M1 / M2 in one process: the memory-bomb corpus (test/fixtures/memory-bombs.ts, given as JSON
// in BENCH_BOMBS) with a 32 MiB limit and a 2 s timeout, one bomb after the other, through the
// package's public API as a user calls it (`broker.execute()` of `enclave-broker`, with
// `runtimePool: false` or the default pool), or on bare quickjs-emscripten (a runtime with
// setMemoryLimit and a 2 s interrupt deadline, the anchor). Run from the packed project (see
// packed.mjs). Prints one JSON line: per bomb, the outcome, the ms to it, and the process's
// RSS growth while it ran (sampled every 2 ms by a thread of its own, so that a bomb holding
// the main thread is sampled too).
//   BENCH_BOMBS='[…]' node --expose-gc limits.mjs inline|pool|bare
import { Worker } from 'node:worker_threads';

const MEMORY_BOMBS = JSON.parse(process.env.BENCH_BOMBS ?? '[]');

const mode = process.argv[2] ?? 'inline';
const LIMIT = 32 * 1024 * 1024;
const TIMEOUT = 2000;

const peak = new Float64Array(new SharedArrayBuffer(8));
const sampler = new Worker(
  `const { workerData } = require('node:worker_threads'); const fs = require('node:fs');
   const peak = new Float64Array(workerData);
   const read = () => Number(/VmRSS:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
   setInterval(() => { const r = read(); if (r > peak[0]) peak[0] = r; }, 2);`,
  { eval: true, workerData: peak.buffer },
);
sampler.unref();
const rss = () => process.memoryUsage.rss();

let runOne;
let close = async () => undefined;
if (mode === 'bare') {
  const { newQuickJSWASMModuleFromVariant } = await import('quickjs-emscripten-core');
  const variant = (await import('@jitl/quickjs-wasmfile-release-sync')).default;
  runOne = async (code) => {
    // A module per bomb, as the broker has: the anchor's growth is its own.
    const module = await newQuickJSWASMModuleFromVariant(variant);
    const runtime = module.newRuntime();
    runtime.setMemoryLimit(LIMIT);
    runtime.setMaxStackSize(256 * 1024);
    const deadline = Date.now() + TIMEOUT;
    runtime.setInterruptHandler(() => Date.now() > deadline);
    const ctx = runtime.newContext();
    const result = ctx.evalCode(`(async () => {${code}\n})()`);
    let outcome = 'ok';
    if (result.error) {
      const e = ctx.dump(result.error);
      outcome = /interrupted/.test(e?.message) ? 'TIMEOUT' : /out of memory/.test(e?.message) ? 'MEMORY_LIMIT' : `error ${e?.message ?? e}`;
      result.error.dispose();
    } else {
      runtime.executePendingJobs();
      const state = ctx.getPromiseState(result.value);
      if (state.type === 'rejected') {
        const e = ctx.dump(state.error);
        outcome = /interrupted/.test(e?.message) ? 'TIMEOUT' : /out of memory/.test(e?.message) ? 'MEMORY_LIMIT' : `error ${e?.message ?? e}`;
        state.error.dispose();
      } else if (state.type === 'fulfilled') state.value.dispose();
      result.value.dispose();
    }
    // Not disposed: an engine left out of memory may abort on dispose; the module is dropped.
    return outcome;
  };
} else {
  const { EnclaveBroker } = await import('enclave-broker');
  const broker = new EnclaveBroker({
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    limits: { timeoutMs: TIMEOUT, memoryLimitBytes: LIMIT },
    ...(mode === 'inline' ? { runtimePool: false } : {}),
  });
  close = () => broker.close();
  runOne = async (code) => {
    let last;
    for await (const event of broker.execute(code)) last = event;
    return last?.payload?.ok ? 'ok' : (last?.payload?.error?.code ?? 'no final');
  };
  // The code paths' first run is not counted.
  await runOne('return [1, 2, 3].map((x) => x * 2)');
}

const rows = [];
for (const bomb of MEMORY_BOMBS) {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 50));
  const before = rss();
  peak[0] = before;
  const t0 = performance.now();
  const outcome = await runOne(bomb.code);
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5));
  const growth = Math.max(peak[0], rss()) - before;
  rows.push({ name: bomb.name, outcome, ms: Math.round(ms), growthMiB: Math.round((growth / 1048576) * 10) / 10 });
}
await close();
console.log(JSON.stringify({ mode, limitMiB: LIMIT / 1048576, timeoutMs: TIMEOUT, rows }));
process.exit(0);
