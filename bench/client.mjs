// C1: client.execute('return 1 + 2') at 10 concurrent calls vs raw fetch + NDJSON parsing.
// C2: minified + gzip size of the client's browser bundle (goal: ≤ 8 KiB gzip).
// Run: npx tsx bench/client.mjs   (the broker runs in its own process: the CLI, memory store)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { EnclaveClient } from '../src/client/index.ts';
import { decodeNdjson } from '../src/protocol/ndjson.ts';

const CONCURRENCY = 10;
const CALLS = Number(process.env.CALLS ?? 2000);
const ROUNDS = 3;
const root = fileURLToPath(new URL('..', import.meta.url));

async function startBroker() {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/enclave-broker.ts', '--port', '0', '--host', '127.0.0.1'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('enclave-broker ready'));
      if (line) resolve(JSON.parse(line).url);
    });
    child.once('exit', (code) => reject(new Error(`broker exited ${code}`)));
  });
  child.stdout.resume();
  return { url, stop: async () => { child.kill('SIGTERM'); await once(child, 'exit'); } };
}

async function raw(url) {
  const res = await fetch(`${url}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: 'return 1 + 2' }),
  });
  for await (const e of decodeNdjson(res.body)) if (e.type === 'final') return e.payload.result;
  throw new Error('no final');
}

async function measure(fn) {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < CALLS) if ((await fn()) !== 3) throw new Error('wrong result');
    }),
  );
  return CALLS / ((performance.now() - start) / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function c1() {
  const broker = await startBroker();
  try {
    const client = new EnclaveClient({ baseUrl: broker.url });
    const viaClient = () => client.execute('return 1 + 2');
    const viaRaw = () => raw(broker.url);
    await measure(viaRaw);
    await measure(viaClient);
    const rawRates = [];
    const clientRates = [];
    for (let i = 0; i < ROUNDS; i++) {
      rawRates.push(await measure(viaRaw));
      clientRates.push(await measure(viaClient));
    }
    const r = median(rawRates);
    const c = median(clientRates);
    console.log(`C1 raw fetch + NDJSON: ${r.toFixed(0)} calls/s (median of ${ROUNDS} × ${CALLS}, ${CONCURRENCY} concurrent)`);
    console.log(`C1 client.execute:     ${c.toFixed(0)} calls/s`);
    console.log(`C1 ratio client/raw throughput: ${(c / r).toFixed(3)}`);
  } finally {
    await broker.stop();
  }
}

async function c2() {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('../src/client/index.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  const bytes = result.outputFiles[0].contents;
  const gz = gzipSync(bytes, { level: 9 }).length;
  console.log(`C2 browser bundle: ${(bytes.length / 1024).toFixed(2)} KiB minified, ${(gz / 1024).toFixed(2)} KiB gzip (goal ≤ 8 KiB) ${gz <= 8192 ? 'OK' : 'OVER'}`);
}

await c2();
await c1();
