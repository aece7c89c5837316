// In-process benchmarks (each in a child process): B2/P3 (and the thread round-trip floor), R1, B3/P4, O1, O2.
import { intoProject, packedProject } from '../lib/packed.mjs';
import { runNodeJson } from '../lib/proc.mjs';

const script = new URL('../lib/inproc.mjs', import.meta.url).pathname;
const us = (x) => `${x.toFixed(1)} µs`;
const kib = (b) => `${(b / 1024).toFixed(0)} KiB`;
const mib = (b) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/**
 * B2 as the issue states it (bench/lib/b2-packed.mjs, run from a project that installed the
 * packed package: default options, and `runtimePool: false` as the anchor), then B2 (inline)
 * and P3 (pool) by bench/lib/inproc.mjs: 1,000 sequential no-op server tool calls.
 */
export async function b2() {
  const rows = [];
  const { dir, how } = packedProject();
  const packedScript = intoProject(new URL('../lib/b2-packed.mjs', import.meta.url).pathname);
  const packed = {};
  for (const mode of ['default', 'inline']) packed[mode] = await runNodeJson(packedScript, [mode], ['--expose-gc'], { cwd: dir });
  process.stderr.write(`[bench]   B2 packed: ${how}\n`);
  const range = (r) => `${us(r.perCallUs)} [${r.minUs.toFixed(0)}–${r.maxUs.toFixed(0)}], CPU ${us(r.cpuPerCallUs)}`;
  rows.push({
    name: 'B2 packed default options',
    figure: `${range(packed.default)} per call`,
    baseline: `runtimePool: false ${range(packed.inline)}`,
    ratio: packed.default.perCallUs / packed.inline.perCallUs,
    goal: '≤ 30 µs',
    pass: packed.default.perCallUs <= 30,
  });
  let inlineUs = Number.NaN;
  for (const mode of ['inline', 'pool']) {
    const r = await runNodeJson(script, ['b2', mode]);
    if (mode === 'inline') inlineUs = r.perCallUs;
    const goal = mode === 'inline' ? 30 : 60;
    rows.push({
      name: mode === 'inline' ? 'B2 tool call inline' : 'P3 tool call pool',
      figure: `${us(r.perCallUs)} per call`,
      baseline: `await Promise.resolve() ${us(r.awaitUs)}`,
      ratio: r.perCallUs / r.awaitUs,
      goal: `≤ ${goal} µs`,
      pass: r.perCallUs <= goal,
    });
  }
  // The floor under the pool's figures: a bare worker-thread round trip, no QuickJS, no broker.
  const floor = await runNodeJson(new URL('../lib/handoff-floor.mjs', import.meta.url).pathname, []);
  rows.push({
    name: 'B2 thread round-trip floor',
    figure: `${us(floor.waitUs)} per round trip (the worker sleeps in Atomics.wait, as the pool's does); inline + floor ${us(inlineUs + floor.waitUs)}`,
    baseline: `both sides event-driven ${us(floor.portUs)}`,
    ratio: floor.waitUs / floor.portUs,
    goal: 'for scale (info)',
  });
  return rows;
}

/** B3 (inline) and P4 (pool): RSS per session waiting on a client tool; pool at rest. */
export async function b3() {
  const rows = [];
  for (const mode of ['inline', 'pool']) {
    const r = await runNodeJson(script, ['b3', mode], ['--expose-gc']);
    const name = mode === 'inline' ? 'B3 RSS/waiting session inline' : 'P4 RSS/waiting session pool';
    rows.push({
      name,
      figure: `${kib(r.perSessionBytes)} (${r.sessions} sessions, +${mib(r.rssWaiting - r.rssReady)})`,
      baseline: `ready ${mib(r.rssReady)}`,
      ratio: r.rssWaiting / r.rssReady,
      goal: '≤ 150 KiB',
      pass: r.perSessionBytes <= 150 * 1024,
    });
    if (mode === 'pool') {
      const workers = r.workersAtRest?.length ?? 1;
      const perWorker = r.restBytes / workers;
      rows.push({
        name: 'P4 pool at rest',
        figure: `+${mib(r.restBytes)} for ${workers} worker(s) = ${mib(perWorker)}/worker`,
        baseline: `process before broker ${mib(r.rss0)}`,
        ratio: r.rssReady / r.rss0,
        goal: '≤ 40 MiB/worker',
        pass: perWorker <= 40 * 1024 * 1024,
      });
    }
  }
  return rows;
}

/**
 * O1: an OpenAPI action call, per call, from the broker's own event timestamps, vs a direct
 * fetch of the same endpoint from Node in the same run (a node:http service in its own
 * process); default options (the pool) and inline.
 */
export async function o1() {
  const rows = [];
  for (const mode of ['pool', 'inline']) {
    const r = await runNodeJson(script, ['o1', mode]);
    const ratio = r.ratio;
    rows.push({
      name: `O1 OpenAPI action call ${mode}`,
      figure: `${us(r.actionUs)} per call (${r.calls} calls, median of ${r.actions.length} rounds)`,
      baseline: `direct fetch ${us(r.directUs)} (ratio: median of the rounds' ratios)`,
      ratio,
      goal: '≤ 1.3×',
      pass: ratio <= 1.3,
    });
  }
  return rows;
}

/** R1: heap and RSS kept per ended session after many short ones (each kept for replay). */
export async function r1() {
  const rows = [];
  for (const mode of ['pool', 'inline']) {
    const r = await runNodeJson(script, ['r1', mode], ['--expose-gc']);
    rows.push({
      name: `R1 kept per ended session ${mode}`,
      figure: `heap ${r.heapPerSession.toFixed(0)} B, RSS ${(r.rssPerSession / 1024).toFixed(1)} KiB (${r.sessions} sessions, log ${r.footprint.logChars} chars)`,
      baseline: `RSS ${mib(r.rss0)} before, ${mib(r.rss1)} after`,
      ratio: r.rss1 / r.rss0,
      goal: 'heap ≤ 1 KiB',
      pass: r.heapPerSession <= 1024,
    });
  }
  return rows;
}

/** O2: catalog build for a 500-operation spec (absorbs bench/openapi.mjs). */
export async function o2() {
  const r = await runNodeJson(script, ['o2']);
  return ['json', 'object', 'yaml'].map((format) => ({
    name: `O2 catalog 500 ops (${format})`,
    figure: `${r[format].ms.toFixed(1)} ms (${r[format].actions} actions)`,
    baseline: `JSON.parse of the spec ${r.jsonParseMs.toFixed(2)} ms`,
    ratio: r[format].ms / r.jsonParseMs,
    goal: '≤ 200 ms',
    pass: r[format].ms <= 200,
  }));
}
