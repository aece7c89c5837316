// Throughput of full executions (one tool round trip each) inline vs on the worker pool.
// Run after `npm run build`: node bench/pool.mjs [sessions] [concurrency]
import { InlineExecutor } from '../dist/src/pool/inline.js';
import { WorkerPoolExecutor } from '../dist/src/pool/worker-pool.node.js';

const total = Number(process.argv[2] ?? 4000);
const concurrency = Number(process.argv[3] ?? 64);
const limits = { timeoutMs: 5000, memoryLimitBytes: 32 << 20, maxStackBytes: 256 << 10, maxStdoutBytes: 1 << 20, maxResultBytes: 1 << 20 };
const code = 'let s = 0; for (let i = 0; i < 100; i++) s += i; const v = await callTool("t", { s }); return v.s';

function once(executor) {
  return new Promise((resolve, reject) => {
    const handle = executor.start(
      { code, contextJson: '{}', limits },
      {
        onToolCall(id, _name, args) {
          queueMicrotask(() => handle.settleTool(id, { ok: true, resultJson: args }));
        },
        onStdout() {},
        onLog() {},
        onDone(o) {
          o.ok ? resolve() : reject(new Error(o.error.code));
        },
      },
    );
  });
}

async function measure(name, executor) {
  await executor.warm();
  for (let i = 0; i < 200; i++) await once(executor);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) await once(executor);
    }),
  );
  const ms = performance.now() - t0;
  console.log(`${name}: ${total} sessions in ${ms.toFixed(0)} ms = ${((total / ms) * 1000).toFixed(0)}/s`);
  await executor.close();
}

await measure('inline', new InlineExecutor());
await measure('pool 1 worker', new WorkerPoolExecutor({ minSize: 1, maxSize: 1 }));
await measure('pool 2 workers', new WorkerPoolExecutor({ minSize: 2, maxSize: 2 }));
