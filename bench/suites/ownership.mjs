// One owner per session: T1 (takeover time with the default lease), S1 on a Redis Cluster, S2
// (a client answer posted to another process) on one Redis and on a cluster. The single-Redis
// S1 is in http.mjs.
import { measure, root, runNodeJson, startServer } from '../lib/proc.mjs';
import { withCluster, withRedis } from '../lib/redis.mjs';

const ms = (x) => `${x.toFixed(0)} ms`;
const ms2 = (x) => `${x.toFixed(2)} ms`;
const rps = (r) => `${r.rps.toFixed(0)} req/s`;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/**
 * T1: from `kill -9` of the owner to the next event of its session resumed on another process
 * (a follower there sees it), with the broker's default lease, renew and watch intervals; a
 * session with 50 journaled tool results; 9 runs, on one Redis and on a three-primary cluster.
 * Baseline: the default lease (the figure's floor is two thirds of it). Goal p50 ≤ 1 s.
 */
export async function t1() {
  const rows = [];
  // The child processes inherit it: the brokers run with the default lease.
  const before = process.env.D2_LEASE_MS;
  process.env.D2_LEASE_MS = 'default';
  const row = (name, r) => ({
    name,
    figure: `p50 ${ms(r.fromKill.median)}, p99 ${ms(r.fromKill.p99)} (${r.runs} runs)`,
    baseline: `lease ${r.leaseMs} ms`,
    ratio: r.fromKill.median / r.leaseMs,
    goal: 'p50 ≤ 1000 ms',
    pass: r.fromKill.median <= 1000,
  });
  try {
    await withRedis(async (url) => rows.push(row('T1 takeover, one Redis', await runNodeJson(`${root}bench/lib/takeover.mjs`, [url, '9']))));
    await withCluster(async (spec) => rows.push(row('T1 takeover, cluster', await runNodeJson(`${root}bench/lib/takeover.mjs`, [`cluster:${spec}`, '9']))));
  } finally {
    if (before === undefined) delete process.env.D2_LEASE_MS;
    else process.env.D2_LEASE_MS = before;
  }
  return rows;
}

/** S1 on a cluster: B1 (`return 1 + 2`, worker pool) on a three-primary Redis Cluster vs the memory store. Goal ≥ 0.6. */
export async function s1c() {
  return withCluster(async (spec) => {
    const servers = [await startServer({ kind: 'broker' }), await startServer({ kind: 'broker', redisCluster: spec })];
    try {
      const rows = [];
      for (const connections of [10, 100]) {
        const best = [undefined, undefined];
        for (let round = 0; round < ROUNDS; round++) {
          for (let i = 0; i < 2; i++) {
            const r = await measure(servers[i].url, { connections });
            if (!best[i] || r.rps > best[i].rps) best[i] = r;
          }
        }
        const ratio = best[1].rps / best[0].rps;
        rows.push({ name: `S1 cluster c${connections}`, figure: rps(best[1]), baseline: `memory ${rps(best[0])}`, ratio, goal: '≥ 0.6', pass: ratio >= 0.6 });
      }
      return rows;
    } finally {
      for (const s of servers) await s.stop();
    }
  });
}

/**
 * S2: a client tool result posted to process B for a session running on process A, against
 * posting it to A (p50 of the POST, 200 each), on one Redis and on a cluster. The figure is
 * what B adds; goal ≤ 2 ms.
 */
export async function s2() {
  const rows = [];
  const row = (name, r) => {
    const added = r.post.B - r.post.A;
    return {
      name,
      figure: `+${ms2(added)} (POST to B ${ms2(r.post.B)}; loop to next tool_call +${ms2(r.loop.B - r.loop.A)})`,
      baseline: `POST to A ${ms2(r.post.A)}`,
      ratio: r.post.B / r.post.A,
      goal: '≤ +2 ms',
      pass: added <= 2,
    };
  };
  await withRedis(async (url) => rows.push(row('S2 answer via B, one Redis', await runNodeJson(`${root}bench/lib/route.mjs`, [url, '200']))));
  await withCluster(async (spec) => rows.push(row('S2 answer via B, cluster', await runNodeJson(`${root}bench/lib/route.mjs`, [`cluster:${spec}`, '200']))));
  return rows;
}
