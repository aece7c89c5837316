// W2: cold start (process start → first `final` of `return 1 + 2`), Node and Bun.
// W3: Cloudflare Worker bundle size (`npm run build:workers` → dist-workers/).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { bunPath, root } from '../lib/proc.mjs';

const RUNS = 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function run(cmd, args, env = {}) {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out.slice(-500)}`);
}

async function freePort() {
  const { createServer } = await import('node:net');
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  await once(s, 'close');
  return port;
}

/** ms from spawn to the first 200 answer of POST /execute carrying a `final`. */
async function coldStart(cmd, args, env = {}) {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(cmd, args, {
    cwd: root,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'error', HOST: '127.0.0.1', PORT: String(port), ...env },
  });
  const exited = once(child, 'exit');
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} exited ${child.exitCode}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/execute`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"code":"return 1 + 2"}',
        });
        const text = await res.text();
        if (res.ok && text.includes('"final"')) return performance.now() - t0;
      } catch {}
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

async function medianStart(cmd, args, env) {
  const xs = [];
  for (let i = 0; i < RUNS; i++) xs.push(await coldStart(cmd, args, env));
  return median(xs);
}

export async function w2() {
  await run('npm', ['run', 'build', '--silent']);
  const bare = { BENCH_SERVER: '{"kind":"bare"}' };
  const nodeBare = await medianStart(process.execPath, ['bench/lib/server.mjs'], bare);
  const bunBare = await medianStart(bunPath, ['bench/lib/server.mjs'], bare);
  const node = await medianStart(process.execPath, ['dist/examples/serve.js']);
  const bun = await medianStart(bunPath, ['examples/serve.ts']);
  return [
    {
      name: 'W2 cold start node',
      figure: `${node.toFixed(0)} ms`,
      baseline: `bare Hono on node ${nodeBare.toFixed(0)} ms`,
      ratio: node / nodeBare,
      goal: 'info',
      pass: undefined,
    },
    {
      name: 'W2 cold start bun',
      figure: `${bun.toFixed(0)} ms`,
      baseline: `bare Hono on bun ${bunBare.toFixed(0)} ms`,
      ratio: bun / bunBare,
      goal: 'info',
      pass: undefined,
    },
    { name: 'W2 bun/node', figure: `bun ${bun.toFixed(0)} ms`, baseline: `node ${node.toFixed(0)} ms`, ratio: bun / node, goal: 'info', pass: undefined },
  ];
}

export async function w3() {
  await run('npm', ['run', 'build:workers', '--silent'], { CLOUDFLARE_CF_FETCH_ENABLED: 'false' });
  const dir = `${root}dist-workers`;
  const files = readdirSync(dir).filter((f) => !f.endsWith('.map') && !f.endsWith('.md'));
  let raw = 0;
  let gz = 0;
  let js = 0;
  for (const f of files) {
    const bytes = readFileSync(`${dir}/${f}`);
    raw += statSync(`${dir}/${f}`).size;
    gz += gzipSync(bytes, { level: 9 }).length;
    if (f.endsWith('.js')) js += bytes.length;
  }
  const kib = (b) => `${(b / 1024).toFixed(0)} KiB`;
  return [
    {
      name: 'W3 Worker bundle',
      figure: `${kib(raw)} raw, ${kib(gz)} gzip`,
      baseline: `of which JS ${kib(js)}, WASM ${kib(raw - js)}`,
      ratio: gz / raw,
      goal: '≤ 1 MiB raw',
      pass: raw <= 1024 * 1024,
    },
  ];
}
