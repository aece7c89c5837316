import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InlineExecutor } from '../../src/pool/inline.js';
import type { SandboxHandle, SandboxOutcome } from '../../src/sandbox/types.js';
import { run, spec } from './helpers.js';
import { until } from './executor-contract.js';

let executor: InlineExecutor;
beforeAll(async () => {
  executor = new InlineExecutor();
  await executor.warm();
});
afterAll(async () => {
  await executor.close();
});

describe('the callTool path', () => {
  it('applies results answered synchronously from inside the call (as a re-run fed from a journal) without growing the host stack', async () => {
    let done!: (o: SandboxOutcome) => void;
    const finished = new Promise<SandboxOutcome>((r) => (done = r));
    const calls: number[] = [];
    let handle: SandboxHandle | undefined;
    const early: Array<() => void> = [];
    handle = executor.start(spec('let n = 0; for (let i = 0; i < 20000; i++) n += (await callTool("inc", { i })).v; return n', { timeoutMs: 60_000 }), {
      onToolCall(id, _name, argsJson) {
        calls.push(id);
        const settle = () => handle!.settleTool(id, { ok: true, resultJson: JSON.stringify({ v: JSON.parse(argsJson).i % 3 }) });
        // The first call comes while start() runs; every later one is answered from inside the call.
        if (handle) settle();
        else early.push(settle);
      },
      onStdout() {},
      onLog() {},
      onDone: done,
    });
    for (const settle of early) settle();
    expect(await finished).toEqual({ ok: true, resultJson: String(Array.from({ length: 20000 }, (_, i) => i % 3).reduce((a, b) => a + b, 0)) });
    expect(calls).toHaveLength(20000);
  });

  it('checks the arguments in the guest: objects pass, anything else is refused with a TypeError', async () => {
    const code = `
      const out = [];
      for (const args of [undefined, null, {}, { a: [1, { b: 2 }] }, [1], 'x', 3, () => 1, { toJSON() { return 'str' } }, { n: 1n }]) {
        try { out.push(JSON.stringify(await callTool('echo', args))); } catch (e) { out.push(e.name + ': ' + e.message); }
      }
      try { await callTool(42); } catch (e) { out.push(e.name); }
      return out;`;
    const r = run(executor, spec(code), (_name, args) => ({ ok: true, resultJson: JSON.stringify(args) }));
    const outcome = await r.done;
    if (!outcome.ok) throw new Error(JSON.stringify(outcome));
    expect(JSON.parse(outcome.resultJson!)).toEqual([
      '{}',
      '{}',
      '{}',
      '{"a":[1,{"b":2}]}',
      'TypeError: callTool: args must be an object',
      'TypeError: callTool: args must be an object',
      'TypeError: callTool: args must be an object',
      'TypeError: callTool: args must be an object',
      'TypeError: callTool: args must be an object',
      expect.stringMatching(/^TypeError: callTool: args are not JSON-serializable: .*BigInt/i),
      'TypeError',
    ]);
  });

  it('resolves undefined, null, booleans, strings and objects, and rejects with code and details', async () => {
    const answers = [
      { ok: true },
      { ok: true, resultJson: 'null' },
      { ok: true, resultJson: 'true' },
      { ok: true, resultJson: '"s"' },
      { ok: true, resultJson: '{"k":[1]}' },
      { ok: false, error: { code: 'E_X', message: 'boom', details: { why: 1 } } },
    ] as const;
    const code = `
      const out = [];
      for (let i = 0; i < ${answers.length}; i++) {
        try { out.push([typeof (await callTool('t', { i })), await callTool('t', { i })]); } catch (e) { out.push([e.code, e.message, e.details]); }
      }
      return out;`;
    const r = run(executor, spec(code), (_name, args) => answers[args.i as number]);
    const outcome = await r.done;
    if (!outcome.ok) throw new Error(JSON.stringify(outcome));
    expect(JSON.parse(outcome.resultJson!)).toEqual([
      ['undefined', null],
      ['object', null],
      ['boolean', true],
      ['string', 's'],
      ['object', { k: [1] }],
      ['E_X', 'boom', { why: 1 }],
    ]);
  });
});

const heap = () => executor.stats().wasmHeapBytes as number;

describe('disposal of ended sandboxes', () => {
  it('keeps the WASM heap flat when sessions run back to back in microtasks only', async () => {
    expect(heap()).toBeGreaterThan(0);
    // Grow to the steady state first, then run many more: the heap must not follow the count.
    for (let i = 0; i < 50; i++) await run(executor, spec('return 1 + 2')).done;
    const before = heap();
    for (let i = 0; i < 600; i++) expect(await run(executor, spec('return [1, 2, 3].map((x) => x * 2)')).done).toMatchObject({ ok: true });
    // Ending sandboxes waited for an idle moment that never came: 600 runtimes (≈ 40 KiB and
    // up each) were alive at once, 32 MiB more here. Now at most a small batch is (the margin
    // allows one growth step of the WASM memory).
    expect(heap() - before).toBeLessThan(8 * 1024 * 1024);
  });
});

describe('one module per sandbox', () => {
  it('reuses the module of a session that ended cleanly, and drops one whose memory grew', async () => {
    const ex = new InlineExecutor({ prewarm: 0, spareModules: 1 });
    await ex.warm();
    try {
      for (let i = 0; i < 20; i++) await run(ex, spec('return 1 + 2')).done;
      // Back to back, each session found the module the last one left.
      const created = ex.stats().modules as number;
      for (let i = 0; i < 200; i++) await run(ex, spec('return 1 + 2')).done;
      expect(ex.stats().modules).toBe(created);
      // A session that grew its module's memory far past its start leaves it to be dropped.
      expect(await run(ex, spec("const s = 'x'.repeat(20e6); return s.length")).done).toMatchObject({ ok: true });
      const grown = ex.stats().modules as number;
      await run(ex, spec('return 1')).done;
      await run(ex, spec('return 2')).done;
      expect(ex.stats().modules).toBeGreaterThan(grown);
      expect(ex.stats().wasmHeapBytes).toBeLessThan(3 * 24 * 1024 * 1024);
    } finally {
      await ex.close();
    }
  });

  it('gives each live session a module of its own, and frees them when they end', async () => {
    const ex = new InlineExecutor({ prewarm: 0, spareModules: 1 });
    await ex.warm();
    try {
      // Twenty sessions waiting on a tool, each holding some data: twenty modules.
      const waiting = Array.from({ length: 20 }, () => run(ex, spec("const keep = 'y'.repeat(80000) + 'z'; await callTool('wait', {}); return keep.length")));
      await until(() => waiting.every((w) => w.seen.some((e) => e.k === 'call')));
      expect(ex.stats().modulesAlive).toBeGreaterThanOrEqual(20);
      // One bombing its memory meanwhile takes nothing of theirs.
      const bomb = run(ex, spec('const a = []; for (;;) a.push(new Array(1e5).fill(1))', { memoryLimitBytes: 16 * 1024 * 1024 }));
      expect(await bomb.done).toMatchObject({ ok: false, error: { code: 'MEMORY_LIMIT' } });
      for (const w of waiting) w.handle.settleTool(1, { ok: true, resultJson: 'null' });
      for (const w of waiting) expect(await w.done).toMatchObject({ ok: true, resultJson: '80001' });
      // Ended sessions give their modules back: the idle list keeps at most 16, the rest go.
      await until(() => (ex.stats().modulesAlive as number) <= 16);
    } finally {
      await ex.close();
    }
  });
});
