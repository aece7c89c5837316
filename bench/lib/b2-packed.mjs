// B2 as the issue states it, run from a project that installed the packed package (see
// packed.mjs): µs per sequential no-op server tool call through the public `execute()`.
//   node --expose-gc b2-packed.mjs [default|inline]
// `noop` (parameters {}, returns null); `limits: { maxToolCalls: 20000, timeoutMs: 120000 }`,
// default options otherwise (`inline` adds `runtimePool: false`, the anchor). Each execution is
// read through execute() until `final` and timed whole. A pair is the tool loop and the same
// loop awaiting null; a pair's figure is (tools − awaits) / 1000. 5 warm-up pairs, then 5 runs
// of 5 interleaved pairs, a full GC before every execution; a run's figure is the median of
// its pairs; printed: the median of the runs and their range. Also printed: the same figure
// from the process's CPU time (user + system, all threads) instead of the wall clock, which
// other load on a shared machine moves far less.
import { EnclaveBroker, ToolRegistry } from 'enclave-broker';

const mode = process.argv[2] ?? 'default';
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const N = 1000;
const TOOLS = `let i = 0; for (; i < ${N}; i++) await callTool('noop', {}); return i`;
const AWAITS = `let i = 0; for (; i < ${N}; i++) await null; return i`;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const tools = new ToolRegistry();
tools.register({ name: 'noop', description: 'does nothing', parameters: {}, handler: async () => null });
const broker = new EnclaveBroker({
  tools,
  limits: { maxToolCalls: 20000, timeoutMs: 120000 },
  ...(mode === 'inline' ? { runtimePool: false } : {}),
});

/** Wall and CPU ms of one execution read until `final`. */
async function timed(code) {
  globalThis.gc();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let last;
  for await (const event of broker.execute(code)) last = event;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  if (last?.type !== 'final' || !last.payload.ok || last.payload.result !== N) throw new Error(`not ok: ${JSON.stringify(last)}`);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function pair() {
  const tools = await timed(TOOLS);
  const awaits = await timed(AWAITS);
  return { us: ((tools.ms - awaits.ms) / N) * 1000, cpuUs: ((tools.cpuMs - awaits.cpuMs) / N) * 1000 };
}

for (let i = 0; i < 5; i++) await pair();
const runs = [];
const cpuRuns = [];
for (let r = 0; r < 5; r++) {
  const pairs = [];
  for (let p = 0; p < 5; p++) pairs.push(await pair());
  runs.push(median(pairs.map((p) => p.us)));
  cpuRuns.push(median(pairs.map((p) => p.cpuUs)));
}
await broker.close();
const out = { mode, perCallUs: median(runs), minUs: Math.min(...runs), maxUs: Math.max(...runs), runs, cpuPerCallUs: median(cpuRuns), cpuRuns };
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
