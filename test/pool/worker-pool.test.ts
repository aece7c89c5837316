import { MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import type { WorkerPoolOptions } from '../../src/pool/options.js';
import { until } from './executor-contract.js';
import { failureCode, run, spec } from './helpers.js';

/**
 * Holds its thread for seconds without reaching an interrupt poll: twenty calls of a slow
 * built-in in one expression (no loop back-edge between them, fewer calls than the first
 * interrupt check needs). Memory bombs no longer serve here: the memory ceiling ends them at once.
 */
const hog = (calls: number) => `const s = 'a'.repeat(4e7); return ${Array.from({ length: calls }, () => "s.indexOf('ab')").join(' + ')}`;
const HOG = hog(20);
const HOG_MEMORY = 128 * 1024 * 1024;
const pools: WorkerPoolExecutor[] = [];

function pool(options: WorkerPoolOptions): WorkerPoolExecutor {
  const p = new WorkerPoolExecutor({ heartbeatMs: 50, ...options });
  pools.push(p);
  return p;
}

function recorder() {
  const lines: string[] = [];
  const note = (level: string) => (message: string) => lines.push(`${level}: ${message}`);
  return { lines, logger: { debug: note('debug'), info: note('info'), warn: note('warn'), error: note('error') } };
}

/** Normal sessions with a tool round trip each. */
function normalSessions(p: WorkerPoolExecutor, n: number) {
  return Array.from({ length: n }, (_, i) =>
    run(p, spec(`const v = await callTool("echo", { i: ${i} }); console.log(v.i); return v.i * 2`), (_n, args) => ({
      ok: true,
      resultJson: JSON.stringify(args),
    })),
  );
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('WorkerPoolExecutor isolation', () => {
  it('completes normal sessions while a guest spins on another worker', async () => {
    const p = pool({ minSize: 2, maxSize: 2, terminateGraceMs: 500 });
    await p.warm();
    const spinner = run(p, spec('while (true) {}', { timeoutMs: 4000 }));
    await until(() => p.stats().workers.some((w) => w.stalled));
    const normal = normalSessions(p, 6);
    const outcomes = await Promise.all(normal.map((r) => r.done));
    expect(spinner.finished()).toBe(false);
    outcomes.forEach((o, i) => expect(o).toEqual({ ok: true, resultJson: String(i * 2) }));
    expect(normal[3]!.seen).toContainEqual({ k: 'out', chunk: '3\n' });
    spinner.handle.abort({ code: 'CANCELLED', message: 'stop' });
    expect(failureCode(await spinner.done)).toBe('CANCELLED');
  });

  it('bounds a built-in that ignores its deadline by terminating its worker', async () => {
    const { lines, logger } = recorder();
    const p = pool({ minSize: 2, maxSize: 2, terminateGraceMs: 300, logger });
    await p.warm();
    const bomb = run(p, spec(HOG, { timeoutMs: 300, memoryLimitBytes: HOG_MEMORY }));
    await until(() => p.stats().workers.some((w) => w.stalled));
    const normal = normalSessions(p, 4);
    await Promise.all(normal.map((r) => r.done));
    expect(bomb.finished()).toBe(false);
    const outcome = await bomb.done;
    // The watchdog ended it (the built-ins alone keep the worker busy for seconds).
    expect(failureCode(outcome)).toBe('TIMEOUT');
    await until(() => p.stats().replaced === 1 && p.stats().size === 2 && p.stats().workers.every((w) => w.ready));
    expect(lines.some((l) => l.startsWith('warn: runtime pool: worker died'))).toBe(true);
    expect(await run(p, spec('return "after"')).done).toEqual({ ok: true, resultJson: '"after"' });
  });
});

describe('WorkerPoolExecutor abort', () => {
  it('reaches a spinning sandbox through the interrupt, keeping the worker', async () => {
    const p = pool({ minSize: 1, maxSize: 1, terminateGraceMs: 5000 });
    await p.warm();
    const before = p.workersForTest()[0];
    const spinner = run(p, spec('while (true) {}', { timeoutMs: 20_000 }));
    await until(() => p.stats().workers[0]!.stalled);
    spinner.handle.abort({ code: 'CANCELLED', message: 'cancelled by the client' });
    expect(await spinner.done).toEqual({ ok: false, error: { code: 'CANCELLED', message: 'cancelled by the client' } });
    expect(p.workersForTest()[0]).toBe(before);
    expect(p.stats().replaced).toBe(0);
  });

  it('gives a spinning guest the lowest CPU priority, and its worker normal priority back afterwards', async () => {
    // Linux keeps a nice value per thread: read every thread's from /proc.
    const { readdirSync, readFileSync } = await import('node:fs');
    const niceValues = () =>
      readdirSync('/proc/self/task').map((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      });
    const p = pool({ minSize: 1, maxSize: 1, terminateGraceMs: 5000 });
    await p.warm();
    expect(niceValues()).not.toContain(19);
    const spinner = run(p, spec('while (true) {}', { timeoutMs: 20_000 }));
    await until(() => niceValues().includes(19));
    spinner.handle.abort({ code: 'CANCELLED', message: 'cancelled by the client' });
    expect(failureCode(await spinner.done)).toBe('CANCELLED');
    await until(() => !niceValues().includes(19));
    // The same worker goes on serving sessions.
    expect(await run(p, spec('return 1 + 2')).done).toEqual({ ok: true, resultJson: '3' });
    expect(p.stats().replaced).toBe(0);
  });

  it('says when a sandbox queued on a worker has run its code up to its first wait', async () => {
    const p = pool({ minSize: 1, maxSize: 1 });
    await p.warm();
    expect(p.reportsStart).toBe(true);
    const order: string[] = [];
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    const handle = p.start(spec('const v = await callTool("later", {}); return v'), {
      onToolCall: (id) => order.push(`call ${id}`),
      onStdout() {},
      onLog() {},
      onDone: (o) => order.push(`done ${JSON.stringify(o)}`),
      onStarted: () => {
        order.push('started');
        started();
      },
    });
    await startedP;
    expect(order).toEqual(['call 1', 'started']);
    handle.settleTool(1, { ok: true, resultJson: '7' });
    await until(() => order.length === 3);
    expect(order[2]).toBe('done {"ok":true,"resultJson":"7"}');
  });

  it('terminates the worker when the sandbox ignores the abort and is alone on it', async () => {
    const p = pool({ minSize: 1, maxSize: 1, terminateGraceMs: 200 });
    await p.warm();
    const before = p.workersForTest()[0];
    const bomb = run(p, spec(HOG, { timeoutMs: 60_000, memoryLimitBytes: HOG_MEMORY }));
    await until(() => p.stats().workers[0]!.stalled);
    bomb.handle.abort({ code: 'CANCELLED', message: 'cancelled by the client' });
    expect(await bomb.done).toEqual({ ok: false, error: { code: 'CANCELLED', message: 'cancelled by the client' } });
    await until(() => p.stats().replaced === 1 && p.stats().workers[0]?.ready === true);
    expect(p.workersForTest()[0]).not.toBe(before);
    expect(await run(p, spec('return 7')).done).toEqual({ ok: true, resultJson: '7' });
  });

  it('keeps the worker, and the sessions waiting on it, when the built-in ends in time', async () => {
    const p = pool({ minSize: 1, maxSize: 1, terminateGraceMs: 200 });
    await p.warm();
    const before = p.workersForTest()[0];
    const waiting = Array.from({ length: 5 }, (_, i) => run(p, spec(`return (await callTool("wait", {})) + ${i}`, { timeoutMs: 60_000 })));
    await until(() => waiting.every((w) => w.seen.some((e) => e.k === 'call')));
    // Shorter than the worker's patience (15 s) even on a loaded machine, longer than the grace.
    const bomb = run(p, spec(hog(4), { timeoutMs: 60_000, memoryLimitBytes: HOG_MEMORY }));
    await until(() => p.stats().workers[0]!.stalled);
    bomb.handle.abort({ code: 'CANCELLED', message: 'cancelled by the client' });
    expect(await bomb.done).toEqual({ ok: false, error: { code: 'CANCELLED', message: 'cancelled by the client' } });
    waiting.forEach((w) => w.handle.settleTool(1, { ok: true, resultJson: '100' }));
    // The answers wait for the built-ins to give the thread back; nothing is lost meanwhile.
    for (const [i, w] of waiting.entries()) expect(await w.done).toEqual({ ok: true, resultJson: String(100 + i) });
    expect(p.stats().replaced).toBe(0);
    expect(p.workersForTest()[0]).toBe(before);
  });
});

describe('WorkerPoolExecutor crashes', () => {
  it('ends only the dead worker’s sandboxes with SANDBOX_CRASHED and replaces it', async () => {
    const { lines, logger } = recorder();
    const p = pool({ minSize: 2, maxSize: 2, logger });
    await p.warm();
    let settleLater: (() => void) | undefined;
    const victim = run(p, spec('await callTool("never", {})', { timeoutMs: 60_000 }));
    await until(() => victim.seen.length === 1);
    const hostIndex = p.stats().workers.findIndex((w) => w.active === 1);
    const survivor = run(p, spec('const v = await callTool("later", {}); return v'), () => {
      return new Promise((resolve) => (settleLater = () => resolve({ ok: true, resultJson: '"survived"' })));
    });
    await until(() => survivor.seen.length === 1);
    expect(p.stats().workers.map((w) => w.active)).toEqual([1, 1]);

    await p.workersForTest()[hostIndex]!.terminate();
    const outcome = await victim.done;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error).toMatchObject({ code: 'SANDBOX_CRASHED', recoverable: true });
    expect(survivor.finished()).toBe(false);
    settleLater!();
    expect(await survivor.done).toEqual({ ok: true, resultJson: '"survived"' });

    await until(() => p.stats().size === 2 && p.stats().workers.every((w) => w.ready));
    expect(p.stats().replaced).toBe(1);
    expect(lines.filter((l) => l.startsWith('warn: runtime pool: worker died'))).toHaveLength(1);
    expect(await run(p, spec('return 1')).done).toEqual({ ok: true, resultJson: '1' });
  });

  it('ends a sandbox that floods events with OUTPUT_BUDGET_EXCEEDED', async () => {
    const p = pool({ minSize: 1, maxSize: 1, maxEventsPerSandbox: 500 });
    await p.warm();
    const flood = run(p, spec("for (let i = 0; i < 1e6; i++) console.debug('')", { timeoutMs: 10_000 }));
    expect(failureCode(await flood.done)).toBe('OUTPUT_BUDGET_EXCEEDED');
    expect(flood.seen.length).toBeLessThanOrEqual(500);
    expect(p.stats().replaced).toBe(0);
  });
});

describe('WorkerPoolExecutor scaling', () => {
  it('warms minSize workers before the first request', async () => {
    const p = pool({ minSize: 2, maxSize: 3 });
    await p.warm();
    const s = p.stats();
    expect(s.size).toBe(2);
    expect(s.workers.every((w) => w.ready)).toBe(true);
  });

  it('grows under load and shrinks back to minSize when idle', async () => {
    const { lines, logger } = recorder();
    const p = pool({ minSize: 1, maxSize: 2, scaleInterval: 100, scaleUpThreshold: 0.6, scaleDownThreshold: 0.2, logger });
    await p.warm();
    expect(p.stats().size).toBe(1);
    const spinner = run(p, spec('while (true) {}', { timeoutMs: 20_000 }));
    await until(() => p.stats().size === 2);
    expect(p.stats().utilisation).toBeGreaterThan(0.6);
    expect(lines).toContain('info: runtime pool: scaling up');
    spinner.handle.abort({ code: 'CANCELLED', message: 'done' });
    await spinner.done;
    await until(() => p.stats().size === 1);
    expect(lines).toContain('info: runtime pool: scaling down');
    expect(await run(p, spec('return 2')).done).toEqual({ ok: true, resultJson: '2' });
  });

  it('starts the sessions of one turn with one message to an idle worker', async () => {
    const p = pool({ minSize: 1, maxSize: 1, scaleInterval: 60_000 });
    await p.warm();
    const sent: { t?: string; list?: { t: string }[] }[] = [];
    const original = MessagePort.prototype.postMessage;
    MessagePort.prototype.postMessage = function (this: MessagePort, message: unknown, ...rest: []) {
      sent.push(message as (typeof sent)[number]);
      return original.call(this, message, ...rest);
    };
    try {
      // As requests handled one after another in one turn: microtasks run between them.
      const runs = [];
      for (const i of [1, 2, 3, 4]) {
        runs.push(run(p, spec(`return ${i}`)));
        await Promise.resolve();
      }
      for (const [i, r] of runs.entries()) expect(await r.done).toEqual({ ok: true, resultJson: String(i + 1) });
    } finally {
      MessagePort.prototype.postMessage = original;
    }
    const starts = sent
      .filter((m) => m?.t === 'cmds')
      .map((m) => m.list!.filter((c) => c.t === 'start').length)
      .filter((n) => n > 0);
    expect(starts).toEqual([4]);
  });

  it.each([
    [0.3, true],
    [undefined, false],
  ])('with handoffSpinMs %s, has a worker whose guest waits for a tool result look for it before sleeping: %s', async (handoffSpinMs, looks) => {
    const p = pool({ minSize: 1, maxSize: 1, scaleInterval: 50, ...(handoffSpinMs === undefined ? {} : { handoffSpinMs }) });
    await p.warm();
    expect(p.stats().workers[0]!.awaitedMs).toBe(0);
    const r = run(p, spec('let n = 0; for (let i = 0; i < 500; i++) n += (await callTool("echo", { i })).i; return n'), (_n, args) => ({
      ok: true,
      resultJson: JSON.stringify(args),
    }));
    expect(await r.done).toEqual({ ok: true, resultJson: String((499 * 500) / 2) });
    expect(p.stats().workers[0]!.awaitedMs > 0).toBe(looks);
  });

  it('adds a worker at once when every worker is running guest code', async () => {
    const p = pool({ minSize: 1, maxSize: 2, scaleInterval: 60_000 });
    await p.warm();
    const spinner = run(p, spec('while (true) {}', { timeoutMs: 20_000 }));
    await until(() => p.stats().workers[0]!.stalled);
    expect(await run(p, spec('return 3')).done).toEqual({ ok: true, resultJson: '3' });
    expect(spinner.finished()).toBe(false);
    expect(p.stats().size).toBe(2);
    spinner.handle.abort({ code: 'CANCELLED', message: 'done' });
    await spinner.done;
  });

  it('goes past maxSize while every worker spins, and shrinks back once they are idle', async () => {
    const p = pool({ minSize: 1, maxSize: 1, scaleInterval: 100 });
    await p.warm();
    const spinner = run(p, spec('while (true) {}', { timeoutMs: 20_000 }));
    await until(() => p.stats().workers[0]!.stalled);
    expect(await run(p, spec('return 4')).done).toEqual({ ok: true, resultJson: '4' });
    expect(spinner.finished()).toBe(false);
    expect(p.stats().size).toBe(2);
    spinner.handle.abort({ code: 'CANCELLED', message: 'done' });
    await spinner.done;
    await until(() => p.stats().size === 1);
    expect(await run(p, spec('return 5')).done).toEqual({ ok: true, resultJson: '5' });
  });
});
