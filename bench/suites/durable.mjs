// Durable sessions on the Redis store: D1 (B1 and B2 with durability on vs off), D2 (takeover time).
import { measure, root, runNodeJson, startServer } from '../lib/proc.mjs';
import { withRedis } from '../lib/redis.mjs';

const rps = (r) => `${r.rps.toFixed(0)} req/s`;
const us = (x) => `${x.toFixed(1)} µs`;
const ms = (x) => `${x.toFixed(0)} ms`;

/**
 * D1: B1 (POST /execute `return 1 + 2`, autocannon at 10 and 100 connections, worker pool) and
 * B2 (1,000 sequential no-op server tool calls, inline) on the Redis store, durability on as a
 * ratio to durability off (for B2: calls per second, so higher is better). Goal ≥ 0.7.
 */
export async function d1() {
  return withRedis(async (url) => {
    const rows = [];
    const off = await startServer({ kind: 'broker', redis: url, durable: false });
    const on = await startServer({ kind: 'broker', redis: url, durable: true });
    try {
      for (const connections of [10, 100]) {
        // Alternating runs, the best of three each, so that load from elsewhere on the machine
        // (it is shared) hits both alike.
        const a = [];
        const b = [];
        for (let round = 0; round < 3; round++) {
          a.push(await measure(off.url, { connections }));
          b.push(await measure(on.url, { connections }));
        }
        const best = (xs) => xs.reduce((x, y) => (y.rps > x.rps ? y : x));
        const ratio = best(b).rps / best(a).rps;
        rows.push({
          name: `D1 B1 durable c${connections}`,
          figure: rps(best(b)),
          baseline: `durable: false ${rps(best(a))}`,
          ratio,
          goal: '≥ 0.7',
          pass: ratio >= 0.7,
        });
      }
    } finally {
      await off.stop();
      await on.stop();
    }
    const r = await runNodeJson(`${root}bench/lib/inproc.mjs`, ['d1b2', 'inline', url]);
    const ratio = r.off.perCallUs / r.on.perCallUs;
    rows.push({
      name: 'D1 B2 durable tool call',
      figure: `${us(r.on.perCallUs)} per call`,
      baseline: `durable: false ${us(r.off.perCallUs)}`,
      ratio,
      goal: '≥ 0.7',
      pass: ratio >= 0.7,
    });
    return rows;
  });
}

/**
 * D2: from the owner's death (SIGKILL) to the first new event of its session resumed on
 * another process, minus the owner lease, for a session with 50 journaled tool results
 * (median of 7 runs; the lease lapses up to a third of it early, so the figure from the
 * lease's actual lapse is given too). Goal ≤ 100 ms.
 */
export async function d2() {
  return withRedis(async (url) => {
    const r = await runNodeJson(`${root}bench/lib/takeover.mjs`, [url, '7']);
    return [
      {
        name: 'D2 takeover − lease (50 journaled)',
        figure: `${ms(r.minusLease.median)} (max ${ms(r.minusLease.max)}; from the lapse: p50 ${ms(r.afterLapse.median)}, max ${ms(r.afterLapse.max)})`,
        baseline: `lease ${r.leaseMs} ms`,
        ratio: (r.minusLease.median + r.leaseMs) / r.leaseMs,
        goal: '≤ 100 ms',
        pass: r.minusLease.median <= 100,
      },
    ];
  });
}
