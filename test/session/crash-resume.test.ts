import type { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import type { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import { silentLogger } from '../../src/logger.js';
import { InlineExecutor } from '../../src/pool/inline.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { eventReader, finalOf, postJson, readEvents, startBroker, workerPoolOf, type TestServer } from '../helpers/broker.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';

// With the memory store (durable by default), a session whose sandbox crashes — its pool
// worker died, or its WASM module failed — is run again from its in-memory journal on a new
// sandbox and goes on: SANDBOX_CRASHED becomes a resume.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** Several server tools (one of them twice in parallel), a timer, the clock and Math.random, then a client tool. */
const CODE = `
const t0 = Date.now();
const r0 = Math.random();
const a = await callTool("count", {});
await new Promise((r) => setTimeout(r, 5));
const [b, x] = await Promise.all([callTool("count", {}), callTool("once", { v: 7 })]);
console.log(JSON.stringify({ t0, r0, runs: [a.runs, b.runs] }));
const answer = await callTool("ask", { q: 1 });
const c = await callTool("count", {});
return { t0, r0, t1: Date.now() >= t0 + 5, r1: Math.random(), runs: [a.runs, b.runs, c.runs], x, answer };
`;

/**
 * Starts CODE on `url` and reads up to its client call: the session id, its reader, the events
 * so far, the call's id and what the code logged before it.
 */
async function startUntilAsk(url: string) {
  const res = await postJson(`${url}/execute`, { code: CODE });
  const id = res.headers.get('x-session-id')!;
  const reader = eventReader(res);
  const seen = await reader.readUntil((e) => e.type === 'tool_call' && e.payload.toolName === 'ask');
  const call = seen.at(-1)!;
  if (call.type !== 'tool_call') throw new Error('no client call');
  const stdout = seen.find((e) => e.type === 'stdout');
  if (stdout?.type !== 'stdout') throw new Error('no stdout');
  const logged = JSON.parse(stdout.payload.chunk) as { t0: number; r0: number; runs: number[] };
  return { id, reader, seen, callId: call.payload.callId, logged };
}

/** Answers the client call, reads the rest of the stream and the stored log: they must agree. */
async function answerAsk(url: string, started: Awaited<ReturnType<typeof startUntilAsk>>): Promise<StreamEvent[]> {
  const { id, reader, seen, callId } = started;
  const posted = await postJson(`${url}/sessions/${id}/tool-result`, { callId, result: 'forty-two' });
  expect(posted.status).toBe(200);
  const rest = await reader.rest();
  const log = await readEvents(await fetch(`${url}/sessions/${id}/events`));
  expect(log).toEqual([...seen, ...rest]);
  return log;
}

function expectResumed(seen: StreamEvent[], log: StreamEvent[], logged: { t0: number; r0: number }): void {
  expect(finalOf(log)).toMatchObject({
    ok: true,
    result: { t0: logged.t0, r0: logged.r0, t1: true, runs: [1, 2, 3], x: { v: 7, runs: 1 }, answer: 'forty-two' },
  });
  // Every seq once; what was emitted before the crash is not emitted again.
  expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
  expect(log.slice(0, seen.length)).toEqual(seen);
  expect(log.filter((e) => e.type === 'tool_call').map((e) => (e.payload as { toolName: string }).toolName)).toEqual([
    'count',
    'count',
    'once',
    'ask',
    'count',
  ]);
  expect(log.filter((e) => e.type === 'tool_result_applied')).toHaveLength(5);
  expect(log.filter((e) => e.type === 'stdout')).toHaveLength(1);
  expect(log.some((e) => e.type === 'error')).toBe(false);
}

describe('a sandbox crash in a durable session on the memory store', () => {
  let server: TestServer | undefined;
  const runs = new Map<string, number>();
  afterAll(() => server?.close());

  const tools = new ToolRegistry();
  const incr = (key: string) => {
    runs.set(key, (runs.get(key) ?? 0) + 1);
    return runs.get(key)!;
  };
  tools.register({ name: 'count', description: 'Counts its runs', parameters: {}, handler: async (_a, ctx) => ({ runs: incr(ctx!.sessionId) }) });
  tools.register({
    name: 'once',
    description: 'Counts its runs per callId',
    parameters: { v: { type: 'number', description: 'echoed' } },
    handler: async (args, ctx) => ({ v: args.v, runs: incr(ctx!.callId) }),
  });

  async function pool(): Promise<{ url: string; executor: WorkerPoolExecutor }> {
    server ??= await startBroker({
      tools,
      runtimePool: { minSize: 1, maxSize: 1, scaleUpThreshold: 0.99, scaleDownThreshold: 0, scaleInterval: 60_000 },
    });
    return { url: server.url, executor: workerPoolOf(server.broker) };
  }

  it('runs again on a new worker when its pool worker dies, and goes on', async () => {
    const { url, executor } = await pool();
    const started = await startUntilAsk(url);
    const { id } = started;
    expect(started.logged.runs).toEqual([1, 2]);

    const dead = executor.workersForTest()[0]!;
    await dead.terminate();
    // The session is running again, on the replacement worker.
    await until(() => executor.workersForTest()[0] !== dead && executor.stats().active === 1);

    expectResumed(started.seen, await answerAsk(url, started), started.logged);
    expect(runs.get(id)).toBe(3);
  });

  it('ends with SANDBOX_CRASHED once it crashed more often than it may run again', async () => {
    const { url, executor } = await pool();
    const res = await postJson(`${url}/execute`, { code: 'return await callTool("ask", {})' });
    const reader = eventReader(res);
    await reader.until('tool_call');
    const killed: Worker[] = [];
    for (let i = 0; i < 4; i++) {
      // Wait for the (re-)run to be placed on a live worker, then kill that worker.
      await until(() => {
        const worker = executor.workersForTest()[0];
        const stats = executor.stats();
        return worker !== undefined && !killed.includes(worker) && stats.active === 1 && stats.workers[0]!.ready;
      });
      const worker = executor.workersForTest()[0]!;
      killed.push(worker);
      await worker.terminate();
    }
    const rest = await reader.rest();
    expect(rest.map((e) => e.type)).toEqual(['error', 'final']);
    expect(finalOf(rest).error).toMatchObject({ code: 'SANDBOX_CRASHED' });
  });
});

describe('a WASM module crash in a durable session on the memory store (inline)', () => {
  let server: TestServer | undefined;
  afterAll(() => server?.close());

  it('runs again in a new module, and goes on', async () => {
    const warnings: { msg: string; sessionId?: string; restart?: number }[] = [];
    const logger = { ...silentLogger, warn: (obj: object, msg: string) => warnings.push({ msg, ...obj }) };
    const executor = new InlineExecutor({ prewarm: 0, spareModules: 0 });
    const tools = new ToolRegistry();
    let runs = 0;
    tools.register({ name: 'count', description: 'Counts its runs', parameters: {}, handler: async () => ({ runs: ++runs }) });
    tools.register({
      name: 'once',
      description: 'Echoes',
      parameters: { v: { type: 'number', description: 'echoed' } },
      handler: async (args) => ({ v: args.v, runs: 1 }),
    });
    server = await startBroker({ tools, executor, logger });
    const started = await startUntilAsk(server.url);
    const { id } = started;

    // The session's module is damaged while its code waits (as an engine fault would leave it):
    // every pointer the engine reads next is out of bounds, and the module traps.
    const [memory, ...others] = executor.busyMemoriesForTest();
    expect(others).toEqual([]);
    new Uint8Array(memory!.buffer).fill(0xff);

    expectResumed(started.seen, await answerAsk(server.url, started), started.logged);
    expect(warnings.filter((w) => w.sessionId === id && w.msg.startsWith('the sandbox crashed'))).toMatchObject([{ restart: 1 }]);
    expect(executor.stats().modules).toBe(2);
  });
});

describe('a WASM module crash in another session (inline, in its own process)', () => {
  let broker: BrokerProcess | undefined;
  afterAll(() => broker?.stop());

  it('leaves a waiting durable session alone: each sandbox has a module of its own', async () => {
    // A small host stack: the other session's deep recursion overflows it inside the engine,
    // which takes its QuickJS module down (QuickJS's own stack check would have kept it).
    broker = await startBrokerProcess({ STORE: 'memory', LOG_WARNINGS: '1' }, ['--stack-size=120']);
    const started = await startUntilAsk(broker.url);

    const bomb = await readEvents(await postJson(`${broker.url}/execute`, { code: 'function f(n) { return f(n + 1) + 1 } return f(0)' }));
    expect(finalOf(bomb).error).toMatchObject({ code: 'STACK_OVERFLOW' });

    expectResumed(started.seen, await answerAsk(broker.url, started), started.logged);
    // It was not run again: nothing of the crash reached it.
    const warnings = broker.warnings();
    expect(warnings.filter((w) => w.msg.startsWith('the sandbox crashed'))).toEqual([]);
    const limits = warnings.filter((w) => w.msg === 'session limit hit');
    expect(limits).toMatchObject([{ code: 'STACK_OVERFLOW' }]);
    expect(limits[0]!.sessionId).not.toBe(started.id);
  });
});
