// S2: the added latency of a client tool result posted to another process than the one running
// the session. Two broker processes on one Redis (or a Redis Cluster); a session on A calls a
// client tool again and again; answers go alternately to A and to B. Prints one JSON line:
// p50 of the POST itself and of the loop POST → next tool_call, per target (ms).
//   node --import tsx bench/lib/route.mjs <redis url | cluster:host:port,…> [calls per target, default 200]
//   node --import tsx bench/lib/route.mjs serve <redis url | cluster:…>     (one broker)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { redisClient } from './redis.mjs';

if (process.argv[2] === 'serve') {
  const { EnclaveBroker } = await import('../../src/broker.ts');
  const redis = await redisClient(process.argv[3]);
  redis.on('error', () => {});
  const broker = new EnclaveBroker({
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    redis,
    runtimePool: false,
    limits: { maxToolCalls: 100_000, timeoutMs: 600_000, heartbeatIntervalMs: 600_000 },
  });
  await broker.listen(0, '127.0.0.1');
  process.stdout.write(`${broker.port}\n`);
  process.stdin.on('end', () => broker.close().then(() => process.exit(0)));
  process.stdin.resume();
} else {
  const spec = process.argv[2];
  const calls = Number(process.argv[3] ?? 200);
  const self = fileURLToPath(import.meta.url);
  const children = [];
  process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  const serve = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, 'serve', spec], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const [line] = await once(child.stdout, 'data');
    return `http://127.0.0.1:${Number(String(line).trim())}`;
  };
  const [a, b] = await Promise.all([serve(), serve()]);
  const { decodeNdjson } = await import('../../src/protocol/ndjson.ts');
  const total = 2 * calls + 20;
  const res = await fetch(`${a}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: `for (let i = 0; i < ${total}; i++) await callTool("client:t", { i }); return 1` }),
  });
  const id = res.headers.get('x-session-id');
  const events = decodeNdjson(res.body)[Symbol.asyncIterator]();
  const nextCall = async () => {
    for (;;) {
      const { value, done } = await events.next();
      if (done) throw new Error('stream ended');
      if (value.type === 'tool_call') return value.payload.callId;
    }
  };
  const post = { A: [], B: [] };
  const loop = { A: [], B: [] };
  let callId = await nextCall();
  for (let i = 0; i < total; i++) {
    const target = i % 2 ? 'B' : 'A';
    const t0 = performance.now();
    const r = await fetch(`${target === 'A' ? a : b}/sessions/${id}/tool-result`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ callId, result: i }),
    });
    const t1 = performance.now();
    if (r.status !== 200) throw new Error(`tool-result answered ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
    if (i < total - 1) callId = await nextCall();
    const t2 = performance.now();
    if (i >= 20) {
      post[target].push(t1 - t0);
      loop[target].push(t2 - t0);
    }
  }
  const p50 = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  process.stdout.write(`${JSON.stringify({ calls, post: { A: p50(post.A), B: p50(post.B) }, loop: { A: p50(loop.A), B: p50(loop.B) } })}\n`);
  for (const c of children) c.stdin.end();
  await Promise.all(children.map((c) => once(c, 'exit')));
  process.exit(0);
}
