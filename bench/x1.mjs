// B1 with security on vs off: POST /execute {"code":"return 1 + 2"} with autocannon at 10 and
// 100 connections, against a broker without auth/rate limiting and one with bearer auth and
// rate limiting (memory store). Prints req/s and the ratio on/off (goal ≥ 0.9).
// Run: npx tsx bench/x1.mjs [seconds per run, default 5]
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const TOKEN = 'bench-token';

if (process.argv[2] === 'serve') {
  // The broker in its own process, so it does not share a core with autocannon.
  const { EnclaveBroker } = await import('../src/broker.ts');
  const secure = process.argv[3] === 'on';
  const broker = new EnclaveBroker({
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    ...(secure
      ? {
          authentication: { type: 'bearer', validate: async (t) => ({ valid: t === TOKEN, tenantId: 'bench', permissions: ['*'] }) },
          rateLimiting: { windowMs: 60_000, maxRequests: 1e9 },
        }
      : {}),
  });
  await broker.listen(0, '127.0.0.1');
  process.stdout.write(`${broker.port}\n`);
  process.stdin.on('end', () => broker.close().then(() => process.exit(0)));
  process.stdin.resume();
} else {
  const seconds = Number(process.argv[2] ?? 5);
  const self = fileURLToPath(import.meta.url);

  async function server(mode) {
    const child = spawn(process.execPath, ['--import', 'tsx', self, 'serve', mode], { stdio: ['pipe', 'pipe', 'inherit'] });
    const [data] = await once(child.stdout, 'data');
    return { child, url: `http://127.0.0.1:${String(data).trim()}` };
  }

  async function run(url, connections, secure) {
    const result = await autocannon({
      url: `${url}/execute`,
      method: 'POST',
      connections,
      duration: seconds,
      headers: { 'content-type': 'application/json', ...(secure ? { authorization: `Bearer ${TOKEN}` } : {}) },
      body: '{"code":"return 1 + 2"}',
    });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors`);
    return result.requests.average;
  }

  const off = await server('off');
  const on = await server('on');
  try {
    // Warm both (JIT, sandbox module).
    await run(off.url, 10, false);
    await run(on.url, 10, true);
    console.log('connections  off req/s  on req/s  ratio');
    for (const connections of [10, 100]) {
      const a = await run(off.url, connections, false);
      const b = await run(on.url, connections, true);
      console.log(`${String(connections).padStart(11)}  ${a.toFixed(0).padStart(9)}  ${b.toFixed(0).padStart(8)}  ${(b / a).toFixed(2)}`);
    }
  } finally {
    for (const s of [off, on]) s.child.stdin.end();
  }
}
