// In-process benchmarks (each in a child process): B2/P3, B3/P4, O1, O2.
import { runNodeJson } from '../lib/proc.mjs';

const script = new URL('../lib/inproc.mjs', import.meta.url).pathname;
const us = (x) => `${x.toFixed(1)} µs`;
const kib = (b) => `${(b / 1024).toFixed(0)} KiB`;
const mib = (b) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

/** B2 (inline) and P3 (pool): 1,000 sequential no-op server tool calls. */
export async function b2() {
  const rows = [];
  for (const mode of ['inline', 'pool']) {
    const r = await runNodeJson(script, ['b2', mode]);
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

/** O1: OpenAPI action call vs a server tool fetching the same loopback endpoint. */
export async function o1() {
  const r = await runNodeJson(script, ['o1', 'inline']);
  const ratio = r.actionUs / r.directUs;
  return [{ name: 'O1 OpenAPI action call', figure: `${us(r.actionUs)} per call (${r.action})`, baseline: `server tool + fetch ${us(r.directUs)}`, ratio, goal: '≤ 1.3×', pass: ratio <= 1.3 }];
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
