// C1: client.execute('return 1 + 2') at 10 concurrent calls vs raw fetch + NDJSON parsing.
// C2: minified + gzip size of the client's browser bundle (absorbs bench/client.mjs).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { root } from '../lib/proc.mjs';

const CONCURRENCY = 10;
const CALLS = Number(process.env.CALLS ?? 500);
const ROUNDS = 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

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
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
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

export async function c1() {
  const { EnclaveClient } = await import('../../src/client/index.ts');
  const { decodeNdjson } = await import('../../src/protocol/ndjson.ts');
  const broker = await startBroker();
  try {
    const raw = async () => {
      const res = await fetch(`${broker.url}/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'return 1 + 2' }),
      });
      for await (const e of decodeNdjson(res.body)) if (e.type === 'final') return e.payload.result;
      throw new Error('no final');
    };
    const client = new EnclaveClient({ baseUrl: broker.url });
    const viaClient = () => client.execute('return 1 + 2');
    await measure(raw);
    await measure(viaClient);
    const rawRates = [];
    const clientRates = [];
    for (let i = 0; i < ROUNDS; i++) {
      rawRates.push(await measure(raw));
      clientRates.push(await measure(viaClient));
    }
    const r = median(rawRates);
    const c = median(clientRates);
    return [
      {
        name: 'C1 client.execute c10',
        figure: `${c.toFixed(0)} calls/s`,
        baseline: `raw fetch + NDJSON ${r.toFixed(0)} calls/s`,
        ratio: c / r,
        goal: 'info',
        pass: undefined,
      },
    ];
  } finally {
    await broker.stop();
  }
}

export async function c2() {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [fileURLToPath(new URL('../../src/client/index.ts', import.meta.url))],
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
  return [
    {
      name: 'C2 client bundle',
      figure: `${(gz / 1024).toFixed(2)} KiB gzip`,
      baseline: `${(bytes.length / 1024).toFixed(2)} KiB minified`,
      ratio: gz / bytes.length,
      goal: '≤ 8 KiB gzip',
      pass: gz <= 8192,
    },
  ];
}
