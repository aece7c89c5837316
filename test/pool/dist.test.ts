import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
// Inside the project (git-ignored) so the compiled files resolve its node_modules and package.json.
const outDir = `${root}.scratch/pool-dist-${process.pid}`;

const script = (poolUrl: string) => `
import { WorkerPoolExecutor } from ${JSON.stringify(poolUrl)};
const pool = new WorkerPoolExecutor({ minSize: 2, maxSize: 2 });
await pool.warm();
const limits = { timeoutMs: 5000, memoryLimitBytes: 32 << 20, maxStackBytes: 256 << 10, maxStdoutBytes: 1 << 20, maxResultBytes: 1 << 20 };
let handle;
const outcome = await new Promise((resolve) => {
  handle = pool.start({ code: 'const v = await callTool("t", {}); return v + 1', contextJson: '{}', limits }, {
    onToolCall(id) { setTimeout(() => handle.settleTool(id, { ok: true, resultJson: '41' })); },
    onStdout() {}, onLog() {}, onDone: resolve,
  });
});
const stats = pool.stats();
await pool.close();
console.log(JSON.stringify({ outcome, size: stats.size, ready: stats.workers.every((w) => w.ready) }));
`;

describe('WorkerPoolExecutor from compiled JavaScript', () => {
  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('builds with tsconfig.build.json and runs sandboxes on workers from the output', async () => {
    const tsc = fileURLToPath(import.meta.resolve?.('typescript/bin/tsc') ?? `${root}node_modules/typescript/bin/tsc`);
    await run(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`, '--outDir', outDir], { cwd: root });
    const poolUrl = pathToFileURL(`${outDir}/src/pool/worker-pool.node.js`).href;
    // A plain Node process without tsx: the worker entry must be the compiled .js.
    await writeFile(`${outDir}/smoke.mjs`, script(poolUrl));
    const { stdout } = await run(process.execPath, [`${outDir}/smoke.mjs`], { cwd: root });
    expect(JSON.parse(stdout.trim())).toEqual({ outcome: { ok: true, resultJson: '42' }, size: 2, ready: true });
  }, 90_000);
});
