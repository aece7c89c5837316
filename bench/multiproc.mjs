// S2 and S3: two broker processes on one redis-server.
// S2: a client tool result posted to process B for a session running on A, against posting it
//     to A: p50 of the POST itself and of the loop POST → next tool_call on A's stream.
// S3: Redis commands (round trips) per `return 1 + 2` session, counted by a wrapper around the
//     ioredis client of an in-process broker.
// Run: npx tsx bench/multiproc.mjs [calls per target, default 200]   (needs redis-server)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

async function freePort() {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  await once(s, 'close');
  return port;
}

if (process.argv[2] === 'serve') {
  const { EnclaveBroker } = await import('../src/broker.ts');
  const { Redis } = await import('ioredis');
  const redis = new Redis(process.argv[3]);
  const broker = new EnclaveBroker({
    logger: silent,
    redis,
    runtimePool: false,
    limits: { maxToolCalls: 100_000, timeoutMs: 600_000, heartbeatIntervalMs: 600_000 },
  });
  await broker.listen(0, '127.0.0.1');
  process.stdout.write(`${broker.port}\n`);
  process.stdin.on('end', () => broker.close().then(() => process.exit(0)));
  process.stdin.resume();
} else {
  const calls = Number(process.argv[2] ?? 200);
  const redisPort = await freePort();
  const redisServer = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const self = fileURLToPath(import.meta.url);
  const children = [];
  const serve = async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, 'serve', redisUrl], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const [line] = await once(child.stdout, 'data');
    return `http://127.0.0.1:${Number(String(line).trim())}`;
  };
  const [a, b] = await Promise.all([serve(), serve()]);

  // ---- S2 ----
  const { decodeNdjson } = await import('../src/protocol/ndjson.ts');
  const res = await fetch(`${a}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: `for (let i = 0; i < ${2 * calls + 20}; i++) await callTool("client:t", { i }); return 1` }),
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
  for (let i = 0; i < 2 * calls + 20; i++) {
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
    if (i < 2 * calls + 19) callId = await nextCall();
    const t2 = performance.now();
    if (i >= 20) {
      post[target].push(t1 - t0);
      loop[target].push(t2 - t0);
    }
  }
  const p50 = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const fmt = (x) => x.toFixed(3);
  console.log(`S2 (${calls} calls each, ms p50): POST to A ${fmt(p50(post.A))}, to B ${fmt(p50(post.B))}, added ${fmt(p50(post.B) - p50(post.A))}`);
  console.log(`S2 loop POST → next tool_call (ms p50): via A ${fmt(p50(loop.A))}, via B ${fmt(p50(loop.B))}, added ${fmt(p50(loop.B) - p50(loop.A))}`);

  // ---- S3 ----
  const { EnclaveBroker } = await import('../src/broker.ts');
  const { Redis } = await import('ioredis');
  const client = new Redis(redisUrl);
  const broker = new EnclaveBroker({ logger: silent, redis: client, runtimePool: false, ownerLeaseMs: 600_000 });
  await broker.ready();
  const counts = new Map();
  const send = client.sendCommand.bind(client);
  let counting = false;
  client.sendCommand = (command, stream) => {
    if (counting) counts.set(command.name, (counts.get(command.name) ?? 0) + 1);
    return send(command, stream);
  };
  const sessions = 50;
  for (let i = 0; i < 5; i++) for await (const _ of broker.execute('return 1 + 2'));
  counting = true;
  for (let i = 0; i < sessions; i++) for await (const _ of broker.execute('return 1 + 2'));
  counting = false;
  const total = [...counts.values()].reduce((x, y) => x + y, 0);
  console.log(`S3: ${total / sessions} Redis commands per 'return 1 + 2' session (${[...counts].map(([k, v]) => `${k} ${v / sessions}`).join(', ')})`);
  await broker.close();
  client.disconnect();

  for (const c of children) c.stdin.end();
  await Promise.all(children.map((c) => once(c, 'exit')));
  redisServer.kill('SIGKILL');
  process.exit(0);
}
