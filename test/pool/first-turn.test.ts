import { afterEach, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import { silentLogger } from '../../src/logger.js';
import { createPoolExecutor } from '../../src/pool/default-executor.node.js';
import type { Executor } from '../../src/pool/executor.js';
import { FirstTurnExecutor, type TurnGuard } from '../../src/pool/first-turn.js';
import { InlineExecutor } from '../../src/pool/inline.js';
import { POOL_QUICKJS_STACK_BYTES, type RuntimePoolOptions } from '../../src/pool/options.js';
import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import { createTurnGuard } from '../../src/pool/turn-guard.node.js';
import type { SandboxListener, SandboxSpec } from '../../src/sandbox/types.js';
import { failureCode, run, spec, type Seen } from './helpers.js';

/** An inline executor standing for the pool, counting the sandboxes it was given. */
class CountingExecutor extends InlineExecutor {
  started = 0;
  override start(s: SandboxSpec, listener: SandboxListener) {
    this.started++;
    return super.start(s, listener);
  }
}

const closing: Executor[] = [];

async function firstTurns(options: Partial<ConstructorParameters<typeof FirstTurnExecutor>[2]> = {}) {
  const pool = new CountingExecutor({ maxStackBytes: POOL_QUICKJS_STACK_BYTES });
  const executor = new FirstTurnExecutor(pool, () => new InlineExecutor({ maxStackBytes: POOL_QUICKJS_STACK_BYTES }), createTurnGuard(), {
    sliceMs: 2,
    memoryBytes: 4 * 1024 * 1024,
    maxWastedShare: 0.1,
    ...options,
  });
  closing.push(executor);
  await executor.warm();
  return { pool, executor, counts: () => executor.stats()['firstTurn'] as { stayed: number; moved: number; direct: Record<string, number> } };
}

const outputs = (seen: Seen[]) => seen.filter((s) => s.k === 'out' || s.k === 'log');

afterEach(async () => {
  await Promise.all(closing.splice(0).map((e) => e.close()));
});

describe('FirstTurnExecutor', () => {
  // A slice of 50 ms where the code must stay: a first run on a cold engine may take longer than 2.
  it('keeps code that ends in its first turn on this thread, with its output in order', async () => {
    const { pool, executor, counts } = await firstTurns({ sliceMs: 50 });
    const r = run(executor, spec('console.log("a"); console.warn("b"); const x = await Promise.resolve(2); return x + 1'));
    expect(r.finished()).toBe(true);
    expect(await r.done).toEqual({ ok: true, resultJson: '3' });
    expect(outputs(r.seen)).toEqual([
      { k: 'out', chunk: 'a\n' },
      { k: 'log', level: 'warn', message: 'b' },
    ]);
    expect(pool.started).toBe(0);
    expect(counts()).toMatchObject({ stayed: 1, moved: 0 });
  });

  it("keeps the code's own errors", async () => {
    const { pool, executor } = await firstTurns({ sliceMs: 50 });
    expect(failureCode(await run(executor, spec('throw new TypeError("no")')).done)).toBe('RUNTIME_ERROR');
    expect(failureCode(await run(executor, spec('return (')).done)).toBe('SYNTAX_ERROR');
    expect(pool.started).toBe(0);
  });

  it('runs a spinner again in the pool, where it times out with nothing of its first turn seen', async () => {
    const { pool, executor, counts } = await firstTurns();
    const r = run(executor, spec('console.log("once"); while (true) {}', { timeoutMs: 300 }));
    expect(failureCode(await r.done)).toBe('TIMEOUT');
    expect(outputs(r.seen)).toEqual([{ k: 'out', chunk: 'once\n' }]);
    expect(pool.started).toBe(1);
    expect(counts()).toMatchObject({ stayed: 0, moved: 1 });
  });

  it('runs code again in the pool when its first turn calls a tool, so the call happens once', async () => {
    const { pool, executor, counts } = await firstTurns();
    const r = run(executor, spec('const call = globalThis["call" + "Tool"]; call("ping", { n: 1 }); return 7'), () => ({ ok: true, resultJson: '1' }));
    expect(await r.done).toEqual({ ok: true, resultJson: '7' });
    expect(r.seen.filter((s) => s.k === 'call')).toEqual([{ k: 'call', id: 1, name: 'ping', args: { n: 1 } }]);
    expect(pool.started).toBe(1);
    expect(counts()).toMatchObject({ moved: 1 });
  });

  it('runs code again in the pool when its first turn ends waiting', async () => {
    const { pool, executor } = await firstTurns();
    const r = run(executor, spec('await new Promise(() => {}); return 1', { timeoutMs: 200 }));
    expect(failureCode(await r.done)).toBe('TIMEOUT');
    expect(pool.started).toBe(1);
  });

  it('gives a guest that allocates past the first turn’s ceiling the full memory limit, even when it catches the failure', async () => {
    const { pool, executor } = await firstTurns();
    const code = 'let a; try { a = new ArrayBuffer(8 * 1024 * 1024) } catch (e) { return "caught" } return a.byteLength';
    expect(await run(executor, spec(code)).done).toEqual({ ok: true, resultJson: String(8 * 1024 * 1024) });
    expect(pool.started).toBe(1);
  });

  it('sends code that names a tool or a timer to the pool at once', async () => {
    const { pool, executor, counts } = await firstTurns();
    for (const code of ['return typeof callTool', 'return typeof tools', 'return typeof setTimeout']) {
      expect((await run(executor, spec(code)).done).ok).toBe(true);
    }
    expect(pool.started).toBe(3);
    expect(counts()).toMatchObject({ stayed: 0, moved: 0, direct: { waits: 3 } });
  });

  it('stops trying first turns while spinners keep wasting them', async () => {
    // A real pool: the spinners' second runs must not hold this thread.
    const executor = createPoolExecutor({ minSize: 2, maxSize: 2, firstTurnMs: 2 });
    closing.push(executor);
    await executor.warm();
    const counts = () => executor.stats()['firstTurn'] as { moved: number; direct: { throttled: number; unready: number } };
    // One per turn of the event loop, as requests come: spare sandboxes are made between them.
    const runs = [];
    for (let i = 0; i < 12; i++) {
      runs.push(run(executor, spec('while (true) {}', { timeoutMs: 100 })));
      await new Promise((r) => setImmediate(r));
    }
    for (const r of runs) expect(failureCode(await r.done)).toBe('TIMEOUT');
    const { moved, direct } = counts();
    expect(moved + direct.throttled + direct.unready).toBe(12);
    // Five slices of debt (2 ms each, paid back at a tenth) allow about six wasted turns.
    expect(direct.throttled).toBeGreaterThan(0);
    expect(moved).toBeLessThanOrEqual(7);
  });

  it('stops a first turn held by a native built-in that polls nothing, and runs the code in the pool', async () => {
    // Four billion property look-ups in one call of a built-in: minutes, with no interrupt poll.
    const executor = createPoolExecutor({ minSize: 1, maxSize: 1, terminateGraceMs: 200, firstTurnMs: 2 });
    closing.push(executor);
    await executor.warm();
    const stats = () => executor.stats()['firstTurn'] as { stayed: number; stopped: number; moved: number };
    const stuck = run(executor, spec('return Array.prototype.indexOf.call({ length: 2 ** 32 }, 1)', { timeoutMs: 300 }));
    expect(stats()).toMatchObject({ stopped: 1, moved: 1 });
    expect(failureCode(await stuck.done)).toBe('TIMEOUT');
    // First turns go on, in new sandboxes on this thread.
    for (let i = 0; i < 100 && stats().stayed === 0; i++) {
      expect(await run(executor, spec('return 1')).done).toEqual({ ok: true, resultJson: '1' });
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stats().stayed).toBeGreaterThan(0);
  });

  it('schedules nothing of the host (timers, immediates) inside its guarded run', async () => {
    // The watchdog may stop a turn anywhere: inside Node's own timer code it would leave the
    // process's timer lists half changed. So a turn touches none while the watchdog is armed.
    const scheduled = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;
    const growth: number[] = [];
    const real = createTurnGuard();
    const recording: TurnGuard = (fn, ms) =>
      real(() => {
        const before = scheduled();
        fn();
        growth.push(scheduled() - before);
      }, ms);
    const pool = new CountingExecutor({ maxStackBytes: POOL_QUICKJS_STACK_BYTES });
    const executor = new FirstTurnExecutor(pool, () => new InlineExecutor({ maxStackBytes: POOL_QUICKJS_STACK_BYTES }), recording, {
      sliceMs: 50,
      memoryBytes: 4 * 1024 * 1024,
      maxWastedShare: 0.1,
    });
    closing.push(executor);
    await executor.warm();
    const set = 'globalThis["set" + "Timeout"]';
    const codes = [
      'return 1',
      `${set}(() => {}, 0); return 2`,
      `const t = ${set}(() => {}, 5); globalThis["clear" + "Timeout"](t); return 3`,
      `await new Promise((r) => ${set}(r, 0)); return 4`,
      'while (true) {}',
    ];
    const results = [];
    for (const code of codes) results.push(await run(executor, spec(code, { timeoutMs: 300 })).done);
    expect(results.map((o) => (o.ok ? o.resultJson : o.error.code))).toEqual(['1', '2', '3', '4', 'TIMEOUT']);
    expect(growth).toHaveLength(codes.length);
    expect(growth).toEqual(codes.map(() => 0));
    // The first three ended in their turn; the wait and the spinner went to the pool.
    expect(pool.started).toBe(2);
  });

  it('is left out with firstTurnMs 0', async () => {
    const executor = createPoolExecutor({ minSize: 1, maxSize: 1, firstTurnMs: 0 });
    closing.push(executor);
    expect(executor).toBeInstanceOf(WorkerPoolExecutor);
  });
});

describe('the default pool executor', () => {
  /** Code whose answer must not depend on where its first turn ran. */
  const CORPUS = [
    'return 1 + 2',
    'console.log("x"); return [1, 2].map((v) => v * 2)',
    'function f(n) { try { return f(n + 1) } catch (e) { return n } } return f(0)',
    'function g(n) { return g(n + 1) + 1 } return g(0)',
    'throw { code: 42, message: "obj" }',
    'return "x".repeat(2 * 1024 * 1024).length',
    'const a = []; for (;;) a.push("abc" + a.length)',
    'return await new Promise((r) => r(5))',
    'return undefined',
    'return }); (async () => {',
  ];

  async function answers(firstTurnMs: number) {
    const executor = createPoolExecutor({ minSize: 1, maxSize: 2, firstTurnMs });
    closing.push(executor);
    await executor.warm();
    const out: unknown[] = [];
    for (const code of CORPUS) {
      const r = run(executor, spec(code, { timeoutMs: 3000 }));
      const o = await r.done;
      out.push({ outcome: o.ok ? o : { code: o.error.code, message: o.error.message }, seen: outputs(r.seen) });
    }
    return { out, stats: executor.stats() };
  }

  it('answers every script as the pool alone does', async () => {
    const pooled = await answers(0);
    const fronted = await answers(20);
    expect(fronted.out).toEqual(pooled.out);
    expect(pooled.stats['firstTurn']).toBeUndefined();
    expect(fronted.stats['kind']).toBe('worker-pool');
    expect(fronted.stats['firstTurn']).toMatchObject({ stayed: expect.any(Number), moved: expect.any(Number) });
    expect((fronted.stats['firstTurn'] as { stayed: number }).stayed).toBeGreaterThan(0);
  });
});

describe('EnclaveBroker on Node with runtimePool.firstTurnMs', () => {
  it('fronts its worker pool with first turns, counted in /health', async () => {
    const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: { firstTurnMs: 2 } as unknown as RuntimePoolOptions });
    try {
      await broker.ready();
      const events = [];
      for await (const e of broker.execute('return 1 + 2')) events.push(e);
      expect(events.at(-1)).toMatchObject({ type: 'final', payload: { ok: true, result: 3 } });
      const health = (await (await broker.app.request('/health')).json()) as { pool: { kind: string; firstTurn: { stayed: number; moved: number } } };
      expect(health.pool.kind).toBe('worker-pool');
      expect(health.pool.firstTurn.stayed + health.pool.firstTurn.moved).toBe(1);
    } finally {
      await broker.close();
    }
  });
});
