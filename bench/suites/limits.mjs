// M1, M2: the memory-bomb corpus (test/fixtures/memory-bombs.ts), 32 MiB limit, 2 s timeout,
// through the packed package's public API (`broker.execute()`, `runtimePool: false` and the
// default pool), each in a process of its own (bench/lib/limits.mjs), with bare
// quickjs-emscripten (setMemoryLimit, no total) run the same way as the anchor.
//   M1: the worst RSS growth while a bomb runs, as a ratio to the SPEC's bound 1.25 × limit + 8 MiB.
//   M2: the worst ms to MEMORY_LIMIT (goal ≤ 1 s, and every bomb MEMORY_LIMIT under a 2 s timeout).
// F1: p99 ms of a `return 1 + 2` POSTed right after K sessions that spin (K = 2, 4, 8), against
// the same request with no spinner, over HTTP to the packed package's broker with default options.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { intoProject, packedProject } from '../lib/packed.mjs';
import { runNodeJson } from '../lib/proc.mjs';
import { MEMORY_BOMBS } from '../../test/fixtures/memory-bombs.ts';

const BOUND_MIB = 1.25 * 32 + 8;

async function corpus(mode) {
  const { dir } = packedProject();
  const script = intoProject(new URL('../lib/limits.mjs', import.meta.url).pathname);
  process.env.BENCH_BOMBS = JSON.stringify(MEMORY_BOMBS);
  return runNodeJson(script, [mode], ['--expose-gc'], { cwd: dir });
}

/** The packed package's broker in its own process: { url, stop }. */
async function startPackedServer() {
  const { dir } = packedProject();
  const script = intoProject(new URL('../lib/f1-server.mjs', import.meta.url).pathname);
  const child = spawn(process.execPath, [script], { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, NODE_ENV: 'production' } });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.split('\n')[0]));
    });
    child.once('exit', (code) => reject(new Error(`the F1 server exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      const exited = once(child, 'exit');
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function m1m2() {
  const bare = await corpus('bare');
  const rows = [];
  for (const mode of ['inline', 'pool']) {
    const run = await corpus(mode);
    const worstGrowth = run.rows.reduce((a, r) => (r.growthMiB > a.growthMiB ? r : a));
    const bareWorst = Math.max(...bare.rows.map((r) => r.growthMiB));
    const notLimit = run.rows.filter((r) => r.outcome !== 'MEMORY_LIMIT');
    const limited = run.rows.filter((r) => r.outcome === 'MEMORY_LIMIT');
    const worstMs = limited.reduce((a, r) => (r.ms > a.ms ? r : a), { ms: 0, name: '—' });
    const bareOk = bare.rows.filter((r) => r.outcome !== 'MEMORY_LIMIT').length;
    rows.push({
      name: `M1 ${mode}`,
      figure: `worst ${worstGrowth.growthMiB} MiB (${worstGrowth.name})`,
      baseline: `bare engine worst ${bareWorst} MiB; bound ${BOUND_MIB} MiB`,
      ratio: worstGrowth.growthMiB / BOUND_MIB,
      goal: '≤ 1 (of 1.25 × limit + 8 MiB)',
      pass: worstGrowth.growthMiB <= BOUND_MIB,
    });
    rows.push({
      name: `M2 ${mode}`,
      figure: `${limited.length}/${run.rows.length} MEMORY_LIMIT, worst ${worstMs.ms} ms (${worstMs.name})${notLimit.length ? `; not: ${notLimit.map((r) => `${r.name} ${r.outcome} ${r.ms} ms`).join(', ')}` : ''}`,
      baseline: `bare engine: ${bare.rows.length - bareOk}/${bare.rows.length} out of memory, worst ${Math.max(...bare.rows.map((r) => r.ms))} ms`,
      ratio: worstMs.ms / 1000,
      goal: '≤ 1000 ms, all MEMORY_LIMIT',
      pass: worstMs.ms <= 1000 && notLimit.length === 0,
    });
  }
  return rows;
}

const ROUNDS = Number(process.env.BENCH_F1_ROUNDS ?? 20);

async function post(url, body) {
  const res = await fetch(`${url}/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res;
}

async function light(url) {
  const t0 = performance.now();
  const res = await post(url, { code: 'return 1 + 2' });
  const text = await res.text();
  if (!text.includes('"ok":true')) throw new Error(`light request failed: ${text.slice(0, 200)}`);
  return performance.now() - t0;
}

function p99(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
}

export async function f1() {
  const server = await startPackedServer();
  try {
    for (let i = 0; i < 20; i++) await light(server.url);
    const anchor = [];
    for (let i = 0; i < ROUNDS; i++) anchor.push(await light(server.url));
    const rows = [];
    for (const k of [2, 4, 8]) {
      const times = [];
      for (let round = 0; round < ROUNDS; round++) {
        const spinners = await Promise.all(Array.from({ length: k }, () => post(server.url, { code: 'while (true) {}', timeout: 10_000 })));
        times.push(await light(server.url));
        await Promise.all(
          spinners.map(async (res) => {
            const id = res.headers.get('x-session-id');
            if (id) await fetch(`${server.url}/sessions/${id}`, { method: 'DELETE' });
            await res.text();
          }),
        );
      }
      if (process.env.BENCH_F1_TRACE === '1') process.stderr.write(`[bench]   F1 K=${k} rounds (ms): ${times.map((t) => t.toFixed(0)).join(' ')}\n`);
      const figure = p99(times);
      rows.push({
        name: `F1 K=${k}`,
        figure: `p99 ${figure.toFixed(1)} ms (median ${[...times].sort((a, b) => a - b)[times.length >> 1].toFixed(1)})`,
        baseline: `no spinner: p99 ${p99(anchor).toFixed(1)} ms`,
        ratio: figure / p99(anchor),
        goal: '≤ 50 ms',
        pass: figure <= 50,
      });
    }
    return rows;
  } finally {
    await server.stop();
  }
}
