// Runs the benchmarks and prints one table: name, figure, baseline, ratio, goal, pass/fail.
//   npm run bench                 every benchmark (builds first: it measures dist/, see lib/built.mjs)
//   npm run bench -- B1 B4        a selection (ids below; a prefix such as "B1" selects its rows)
// Env: BENCH_SECONDS (measured seconds per HTTP run, default 4), BENCH_WARMUP (default 1.5),
// BENCH_FIRST_WARMUP (warm-up of a server's first run, default 6: V8 tiers up the WASM meanwhile),
// BENCH_ROUNDS (B1, B4, S1, X1: alternating rounds of baseline and brokers, the best of each kept; default 3).
// B1P: BENCH_B1_SECONDS (default 8), BENCH_B1_WARMUP (default 4); R1: BENCH_RSS_SESSIONS (default
// 20 000); O1: BENCH_O1_CALLS (default 300), BENCH_O1_ROUNDS (default 9), BENCH_O1_WARMUP (default 4). bench/README.md says how
// each figure is measured and how to reproduce it.
// Servers and load generators run in separate processes; HTTP load is autocannon (its API, in a
// child process) for throughput and a keep-alive node:http client for latency percentiles.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tasks } from './suites/index.mjs';

const wanted = process.argv.slice(2).map((s) => s.toUpperCase());
const selected = tasks.filter((t) => wanted.length === 0 || wanted.some((w) => t.id === w || t.rows.some((r) => r.startsWith(w))));
if (selected.length === 0) {
  console.error(`no benchmark matches ${wanted.join(' ')}; ids: ${tasks.map((t) => t.id).join(' ')}`);
  process.exit(2);
}

// BENCH_BUSY=1: a process spins on the machine for the whole run, so that every figure is taken
// with a second core busy too, as a user's machine often has it.
const busy = process.env.BENCH_BUSY === '1' ? spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }) : undefined;
process.on('exit', () => busy?.kill('SIGKILL'));

const rows = [];
const started = Date.now();
for (const task of selected) {
  const t0 = Date.now();
  process.stderr.write(`[bench] ${task.id}: ${task.title}\n`);
  try {
    const out = await task.run();
    for (const row of out) {
      if (wanted.length && !wanted.some((w) => task.id === w || row.name.startsWith(w))) continue;
      rows.push(row);
      process.stderr.write(`[bench]   ${row.name}: ${row.figure} (baseline ${row.baseline}, ratio ${fmtRatio(row.ratio)}) ${verdict(row)}\n`);
    }
  } catch (err) {
    process.stderr.write(`[bench]   ${task.id} failed: ${err?.stack ?? err}\n`);
    rows.push({ name: task.id, figure: `error: ${String(err?.message ?? err).slice(0, 80)}`, baseline: '', ratio: undefined, goal: '', pass: false });
  }
  process.stderr.write(`[bench]   (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
}

function fmtRatio(r) {
  return r === undefined || r === null || Number.isNaN(r) ? '—' : r.toFixed(2);
}
function verdict(row) {
  return row.pass === true ? 'pass' : row.pass === false ? 'FAIL' : 'info';
}

const header = ['name', 'figure', 'baseline', 'ratio', 'goal', 'pass/fail'];
const body = rows.map((r) => [r.name, r.figure, r.baseline, fmtRatio(r.ratio), r.goal, verdict(r)]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
const table = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
const cpus = (await import('node:os')).cpus().length;
const summary = `enclave-broker benchmarks — ${new Date().toISOString()}, Node ${process.version}, ${cpus} cores${busy ? ', a spinning process on the machine (BENCH_BUSY)' : ''}, load average ${(
  await import('node:os')
)
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(' ')}, ${((Date.now() - started) / 1000).toFixed(0)} s\n\n${table}\n`;
console.log(`\n${summary}`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/latest.md', import.meta.url), summary);
process.exit(0);
