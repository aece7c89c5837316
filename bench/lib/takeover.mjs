// D2 and T1: takeover time of a durable session on Redis. Prints one JSON line.
//   node --import tsx bench/lib/takeover.mjs <redis url | cluster:host:port,…> [runs, default 7]
// Two broker processes, A and B, on one redis-server. A session on A makes 50 server tool
// calls (journaled), then calls `gate`, which never answers on A. A client follows the session
// through B. A is killed (SIGKILL); the figure is the time from the kill to the first new event
// of the session (the gate's `tool_result_applied`, once B resumed it and ran the gate) as the
// follower sees it, minus the owner lease. The lease lapses between 2/3 of it and all of it
// after the kill (it is renewed every third), so the figure is also given from the moment the
// lease actually lapsed (its PTTL read just before the kill). Each run uses a new A.
//   node --import tsx bench/lib/takeover.mjs serve <redis url>     (one broker; HOLD=1 holds the gate)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { redisClient } from './redis.mjs';

// D2_LEASE_MS=default: the broker's default lease (and renew and watch intervals), for T1.
const LEASE_MS = process.env.D2_LEASE_MS === 'default' ? undefined : Number(process.env.D2_LEASE_MS ?? 1000);
const CALLS = 50;

if (process.argv[2] === 'serve') {
  const { EnclaveBroker } = await import('../../src/broker.ts');
  const { ToolRegistry } = await import('../../src/tools/registry.ts');
  const redis = await redisClient(process.argv[3]);
  redis.on('error', () => {});
  const tools = new ToolRegistry();
  tools.register({ name: 'noop', description: 'does nothing', parameters: {}, handler: async () => null });
  tools.register({
    name: 'gate',
    description: 'never answers in a process started with HOLD=1',
    parameters: {},
    handler: async () => {
      if (process.env.HOLD === '1') await new Promise(() => {});
      return 'open';
    },
  });
  const broker = new EnclaveBroker({
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    tools,
    redis,
    runtimePool: false,
    ...(LEASE_MS === undefined ? {} : { ownerLeaseMs: LEASE_MS }),
    limits: { heartbeatIntervalMs: 600_000, timeoutMs: 600_000 },
  });
  await broker.listen(0, '127.0.0.1');
  process.stdout.write(`${JSON.stringify({ port: broker.port, instanceId: broker.instanceId })}\n`);
  process.stdin.on('end', () => broker.close().then(() => process.exit(0)));
  process.stdin.resume();
} else {
  const redisUrl = process.argv[2];
  const runs = Number(process.argv[3] ?? 7);
  const self = fileURLToPath(import.meta.url);
  const { decodeNdjson } = await import('../../src/protocol/ndjson.ts');
  const children = new Set();
  process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  const serve = async (env = {}) => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, 'serve', redisUrl], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    children.add(child);
    let out = '';
    while (!out.includes('\n')) out += (await once(child.stdout, 'data'))[0];
    const { port, instanceId } = JSON.parse(out.split('\n')[0]);
    return { child, url: `http://127.0.0.1:${port}`, instanceId };
  };
  const untilGate = async (events) => {
    for (;;) {
      const { value, done } = await events.next();
      if (done) throw new Error('stream ended');
      if (value.type === 'tool_call' && value.payload.toolName === 'gate') return;
    }
  };
  const redis = await redisClient(redisUrl);
  const { DEFAULT_LEASE_MS } = await import('../../src/session/manager.ts');
  const leaseMs = LEASE_MS ?? DEFAULT_LEASE_MS;
  const fromKill = [];
  const b = await serve();
  const figures = [];
  const afterLapse = [];
  for (let run = 0; run < runs; run++) {
    const a = await serve({ HOLD: '1' });
    const res = await fetch(`${a.url}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: `for (let i = 0; i < ${CALLS}; i++) await callTool("noop", {}); return await callTool("gate", {})` }),
    });
    const id = res.headers.get('x-session-id');
    await untilGate(decodeNdjson(res.body)[Symbol.asyncIterator]());
    const follower = decodeNdjson((await fetch(`${b.url}/sessions/${id}/events`)).body)[Symbol.asyncIterator]();
    await untilGate(follower);
    // Let the follower settle into following (and A renew its lease at least once).
    await new Promise((r) => setTimeout(r, leaseMs / 2));
    const exited = once(a.child, 'exit');
    const pttl = await redis.pttl(`enclave:lease:{${a.instanceId}}`);
    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    await exited;
    children.delete(a.child);
    const { value, done } = await follower.next();
    const firstAt = performance.now();
    if (done || value.type !== 'tool_result_applied') throw new Error(`unexpected ${JSON.stringify(value)}`);
    const rest = await follower.next();
    if (rest.value?.type !== 'final' || rest.value.payload.result !== 'open') throw new Error(`unexpected end ${JSON.stringify(rest.value)}`);
    fromKill.push(firstAt - killedAt);
    figures.push(firstAt - killedAt - leaseMs);
    afterLapse.push(firstAt - killedAt - pttl);
  }
  redis.disconnect();
  b.child.stdin.end();
  await once(b.child, 'exit');
  const stats = (xs) => {
    const sorted = [...xs].sort((x, y) => x - y);
    return {
      median: sorted[Math.floor(sorted.length / 2)],
      p99: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)],
      max: sorted.at(-1),
      min: sorted[0],
    };
  };
  process.stdout.write(
    `${JSON.stringify({ leaseMs, calls: CALLS, runs, fromKill: stats(fromKill), minusLease: stats(figures), afterLapse: stats(afterLapse), figures, afterLapseFigures: afterLapse })}\n`,
  );
  process.exit(0);
}
