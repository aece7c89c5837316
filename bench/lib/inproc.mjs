// In-process measurements, each in its own child process (run with tsx; b3 with --expose-gc).
// Prints one JSON line.  node --import tsx bench/lib/inproc.mjs <task> [pool|inline] [redis url]
import { EnclaveBroker, ToolRegistry } from './built.mjs';

const [task, mode = 'inline', redisUrl] = process.argv.slice(2);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function makeBroker(extra = {}) {
  const tools = extra.tools ?? new ToolRegistry();
  if (!tools.has?.('noop')) tools.register({ name: 'noop', description: 'does nothing', parameters: {}, handler: async () => null });
  return new EnclaveBroker({
    logger: quiet,
    ...(mode === 'inline' ? { runtimePool: false } : {}),
    limits: { timeoutMs: 120_000, maxToolCalls: 100_000 },
    maxConcurrentSessions: 100_000,
    ...extra,
    tools,
  });
}

async function final(broker, code) {
  let last;
  for await (const e of broker.execute(code)) last = e;
  if (last?.type !== 'final' || !last.payload.ok) throw new Error(`not ok: ${JSON.stringify(last)}`);
  return last.payload;
}

/** Median wall time of `code` over `runs` executions, after `warm` ones. */
async function timeCode(broker, code, runs = 9, warm = 6) {
  for (let i = 0; i < warm; i++) await final(broker, code);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await final(broker, code);
    times.push(performance.now() - t0);
  }
  return median(times);
}

const rssNow = () => process.memoryUsage.rss();
async function settleGc() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 50));
  }
}

let out;
if (task === 'b2') {
  // 1,000 sequential no-op server tool calls vs 1,000 awaits of a resolved promise.
  const broker = makeBroker();
  await broker.ready();
  const N = 1000;
  const tools = await timeCode(broker, `for (let i = 0; i < ${N}; i++) await callTool('noop', {}); return 1`);
  const awaits = await timeCode(broker, `for (let i = 0; i < ${N}; i++) await Promise.resolve(i); return 1`);
  const empty = await timeCode(broker, 'return 1', 21, 20);
  out = { perCallUs: ((tools - empty) / N) * 1000, awaitUs: ((awaits - empty) / N) * 1000, toolsMs: tools, awaitsMs: awaits, emptyMs: empty };
  await broker.close();
} else if (task === 'd1b2') {
  // B2 on the Redis store, durability on and off (alternating rounds, medians of each).
  const { Redis } = await import('ioredis');
  const N = 1000;
  const code = `for (let i = 0; i < ${N}; i++) await callTool('noop', {}); return 1`;
  const setups = [];
  for (const durable of [false, true]) {
    const client = new Redis(redisUrl);
    const broker = makeBroker({ redis: client, durable });
    await broker.ready();
    setups.push({ durable, client, broker, tools: [], empty: [] });
  }
  for (let round = 0; round < 3; round++) {
    for (const s of setups) {
      s.tools.push(await timeCode(s.broker, code, 5, round === 0 ? 2 : 0));
      s.empty.push(await timeCode(s.broker, 'return 1', 11, round === 0 ? 10 : 0));
    }
  }
  out = {};
  for (const s of setups) {
    out[s.durable ? 'on' : 'off'] = { perCallUs: ((median(s.tools) - median(s.empty)) / N) * 1000, toolsMs: median(s.tools), emptyMs: median(s.empty) };
    await s.broker.close();
    s.client.disconnect();
  }
} else if (task === 'b3') {
  // 1,000 sessions each waiting on a client tool: RSS growth per waiting session.
  const N = Number(process.env.B3_SESSIONS ?? 1000);
  await settleGc();
  const rss0 = rssNow();
  const broker = makeBroker();
  await broker.ready();
  await final(broker, 'return 1');
  await settleGc();
  const rssReady = rssNow();
  const workersAtRest = broker.executor.stats().workers ?? broker.executor.stats().size ?? null;
  const iterators = [];
  for (let i = 0; i < N; i++) {
    const it = broker.execute(`const v = await callTool('client_wait', { i: ${i} }); return v`)[Symbol.asyncIterator]();
    for (;;) {
      const { value, done } = await it.next();
      if (done) throw new Error('ended before its tool call');
      if (value.type === 'tool_call') break;
    }
    iterators.push(it);
  }
  await settleGc();
  const rssWaiting = rssNow();
  const stats = broker.executor.stats();
  out = {
    rss0,
    rssReady,
    rssWaiting,
    sessions: N,
    restBytes: rssReady - rss0,
    perSessionBytes: (rssWaiting - rssReady) / N,
    workersAtRest,
    stats,
  };
  for (const it of iterators) it.return();
  await broker.close();
} else if (task === 'o1') {
  // An OpenAPI action call, per call, from the broker's own event timestamps (the mean of
  // tool_result_applied.timestamp − tool_call.timestamp over N sequential calls) vs a direct
  // fetch of the same endpoint from this process (N sequential fetches, JSON read), against
  // a node:http service in its own process. Alternating rounds; the median of each.
  const { spawn } = await import('node:child_process');
  const { petstoreSpec } = await import('../../test/openapi/fixtures.ts');
  const service = spawn(process.execPath, [new URL('./o1-service.mjs', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let text = '';
    service.stdout.on('data', (d) => {
      text += d;
      if (text.includes('\n')) resolve(text.trim());
    });
    service.once('exit', (code) => reject(new Error(`the O1 service exited with ${code}`)));
  });
  // The broker as Node users import it (the package's Node entry, which sets the OpenAPI
  // transport); default options (the pool) unless `inline`; a silent logger.
  const { EnclaveBroker: NodeBroker } = await import(process.env.BENCH_SOURCE === 'ts' ? '../../adapters/node.ts' : '../../dist/adapters/node.js');
  const broker = new NodeBroker({
    logger: quiet,
    ...(mode === 'inline' ? { runtimePool: false } : {}),
    limits: { timeoutMs: 120_000, maxToolCalls: 20_000 },
    openapi: { sources: [{ name: 'petstore', spec: petstoreSpec(), baseUrl: url }] },
  });
  await broker.ready();
  const N = Number(process.env.BENCH_O1_CALLS ?? 300);
  const ROUNDS = Number(process.env.BENCH_O1_ROUNDS ?? 9);
  const viaAction = async () => {
    const calls = new Map();
    let sum = 0;
    let last;
    for await (const e of broker.execute(`for (let i = 0; i < ${N}; i++) await callTool('petstore_getPet', { petId: 1 }); return 1`)) {
      if (e.type === 'tool_call') calls.set(e.payload.callId, e.timestamp);
      else if (e.type === 'tool_result_applied') sum += e.timestamp - calls.get(e.payload.callId);
      last = e;
    }
    if (last?.type !== 'final' || !last.payload.ok) throw new Error(`not ok: ${JSON.stringify(last)}`);
    return (sum / N) * 1000;
  };
  const direct = async () => {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const res = await fetch(`${url}/pets/1`, { headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      await res.json();
    }
    return ((performance.now() - t0) / N) * 1000;
  };
  // V8 tiers the WASM, undici and the broker up over the first thousands of calls.
  for (let i = 0; i < Number(process.env.BENCH_O1_WARMUP ?? 4); i++) {
    await viaAction();
    await direct();
  }
  const actions = [];
  const directs = [];
  for (let r = 0; r < ROUNDS; r++) {
    actions.push(await viaAction());
    directs.push(await direct());
  }
  // Each round's pair measured back to back: the median of their ratios drifts least with load.
  const ratio = median(actions.map((a, i) => a / directs[i]));
  out = { actionUs: median(actions), directUs: median(directs), ratio, actions, directs, calls: N };
  await broker.close();
  service.stdin.end();
} else if (task === 'r1') {
  // Many short sessions (\`return 1 + 2\`) through execute(), default options (the pool) or
  // inline: what the process keeps per ended session (each stays for replay until
  // sessionTimeout, 5 min by default) once the store compacted them.
  const { MemoryStore } = await import(process.env.BENCH_SOURCE === 'ts' ? '../../src/store/memory.ts' : '../../dist/src/store/memory.js');
  const N = Number(process.env.BENCH_RSS_SESSIONS ?? 20_000);
  await settleGc();
  const rssStart = rssNow();
  const store = new MemoryStore();
  const broker = new EnclaveBroker({ logger: quiet, store, ...(mode === 'inline' ? { runtimePool: false } : {}) });
  await broker.ready();
  for (let i = 0; i < 50; i++) await final(broker, 'return 1 + 2');
  store.compactEnded();
  await settleGc();
  const rss0 = rssNow();
  const heap0 = process.memoryUsage().heapUsed;
  let id;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    for await (const e of broker.execute('return 1 + 2')) id = e.sessionId;
  }
  const seconds = (performance.now() - t0) / 1000;
  store.compactEnded();
  await settleGc();
  const rss1 = rssNow();
  const heap1 = process.memoryUsage().heapUsed;
  out = { sessions: N, seconds, rssStart, rss0, rss1, heapPerSession: (heap1 - heap0) / N, rssPerSession: (rss1 - rss0) / N, footprint: store.footprint(id) };
  await broker.close();
} else if (task === 'o2') {
  // Catalog build for a 500-operation spec (absorbs bench/openapi.mjs) vs JSON.parse of it.
  const { stringify: toYaml } = await import('yaml');
  const { CatalogHandler } = await import('../../src/openapi/index.ts');
  const { bigSpec } = await import('./openapi-spec.mjs');
  const spec = bigSpec(500);
  const json = JSON.stringify(spec);
  const runs = 7;
  out = {};
  for (const [format, input] of Object.entries({ object: spec, json, yaml: toYaml(spec) })) {
    const times = [];
    let count = 0;
    for (let i = 0; i < runs; i++) {
      const catalog = new CatalogHandler(new ToolRegistry(), [{ name: 'bench', spec: input, baseUrl: 'https://api.example.com' }]);
      const t0 = performance.now();
      const result = await catalog.refresh();
      times.push(performance.now() - t0);
      count = result.actions.length;
    }
    out[format] = { ms: median(times), actions: count };
  }
  const parse = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    JSON.parse(json);
    parse.push(performance.now() - t0);
  }
  out.jsonParseMs = median(parse);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
