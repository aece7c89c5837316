import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/pool/executor.js';
import { failureCode, run, spec } from './helpers.js';

/** What every executor must do, seen from the listener and the handle. */
export function executorContract(name: string, create: () => Executor): void {
  describe(`${name}: executor contract`, () => {
    let executor: Executor;
    beforeAll(async () => {
      executor = create();
      await executor.warm();
    });
    afterAll(async () => {
      await executor.close();
    });

    it('returns a result', async () => {
      const r = run(executor, spec('return 1 + 2'));
      expect(await r.done).toEqual({ ok: true, resultJson: '3' });
    });

    it('gives the typed arrays to a script that names one, whichever scripts ran before', async () => {
      // The plain scripts take prepared sandboxes, which have no typed arrays (intrinsics.ts).
      for (let i = 0; i < 3; i++) {
        expect(await run(executor, spec("return typeof globalThis['Uint' + '8Array']")).done).toEqual({ ok: true, resultJson: '"undefined"' });
        expect(await run(executor, spec('return new Uint8Array([1, 2, 300]).join()')).done).toEqual({ ok: true, resultJson: '"1,2,44"' });
        expect(await run(executor, spec("return eval('new DataView(new ArrayBuffer(8)).byteLength')")).done).toEqual({ ok: true, resultJson: '8' });
      }
    });

    it('gives no result for undefined and reads the context', async () => {
      expect(await run(executor, spec('context.x;')).done).toEqual({ ok: true });
      expect(await run(executor, spec('return context.x * 2', {}, { x: 21 })).done).toEqual({ ok: true, resultJson: '42' });
    });

    it('freezes the context, flat or nested, and refuses one past the memory limit', async () => {
      expect(await run(executor, spec('return Object.isFrozen(context)', {}, { x: 1 })).done).toEqual({ ok: true, resultJson: 'true' });
      const nested = 'return [context, context.a, context.a[0]].map(Object.isFrozen)';
      expect(await run(executor, spec(nested, {}, { a: [{ b: 1 }] })).done).toEqual({ ok: true, resultJson: '[true,true,true]' });
      const big = { a: Array.from({ length: 8 }, () => 'x'.repeat(1 << 20)) };
      expect(failureCode(await run(executor, spec('return 1', { memoryLimitBytes: 4 << 20 }, big)).done)).toBe('MEMORY_LIMIT');
      expect(await run(executor, spec('return context.a.length', {}, big)).done).toEqual({ ok: true, resultJson: '8' });
    });

    it('settles a tool call', async () => {
      const r = run(executor, spec('const v = await callTool("add", { a: 2, b: 3 }); return v.sum'), (_n, args) => ({
        ok: true,
        resultJson: JSON.stringify({ sum: args.a + args.b }),
      }));
      expect(await r.done).toEqual({ ok: true, resultJson: '5' });
      expect(r.seen[0]).toMatchObject({ k: 'call', name: 'add', args: { a: 2, b: 3 } });
    });

    it('emits both parallel calls before settling either', async () => {
      const r = run(executor, spec('const [a, b] = await Promise.all([callTool("a", {}), callTool("b", {})]); return a + b'), (name) => ({
        ok: true,
        resultJson: JSON.stringify(name === 'a' ? 1 : 10),
      }));
      expect(await r.done).toEqual({ ok: true, resultJson: '11' });
      expect(r.seen.map((e) => e.k)).toEqual(['call', 'call', 'settled', 'settled']);
    });

    it('rejects a tool call with the error code', async () => {
      const r = run(executor, spec('try { await callTool("x", {}); } catch (e) { return e.code + ":" + e.message }'), () => ({
        ok: false,
        error: { code: 'TOOL_NOT_FOUND', message: 'no such tool' },
      }));
      expect(await r.done).toEqual({ ok: true, resultJson: '"TOOL_NOT_FOUND:no such tool"' });
    });

    it('reports stdout and logs in order', async () => {
      const r = run(executor, spec('console.log("hi", 1); console.warn("careful"); console.log({ a: 1 }); return 0'));
      expect(await r.done).toEqual({ ok: true, resultJson: '0' });
      expect(r.seen).toEqual([
        { k: 'out', chunk: 'hi 1\n' },
        { k: 'log', level: 'warn', message: 'careful' },
        { k: 'out', chunk: '{ a: 1 }\n' },
      ]);
    });

    it('ends with the abort failure while waiting for a tool', async () => {
      const r = run(executor, spec('await callTool("never", {}); return 1'));
      await until(() => r.seen.length === 1);
      r.handle.abort({ code: 'CANCELLED', message: 'cancelled by the client' });
      const outcome = await r.done;
      expect(outcome).toEqual({ ok: false, error: { code: 'CANCELLED', message: 'cancelled by the client' } });
    });

    it('times out a spinning guest', async () => {
      const r = run(executor, spec('while (true) {}', { timeoutMs: 200 }));
      expect(failureCode(await r.done)).toBe('TIMEOUT');
    });

    it('times out a guest waiting for a tool', async () => {
      const r = run(executor, spec('await callTool("slow", {})', { timeoutMs: 150 }));
      expect(failureCode(await r.done)).toBe('TIMEOUT');
    });

    it('reports a syntax error', async () => {
      const r = run(executor, spec('return )('));
      expect(failureCode(await r.done)).toBe('SYNTAX_ERROR');
    });

    it('reports an uncaught throw', async () => {
      const outcome = await run(executor, spec('throw new TypeError("bad")')).done;
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect(outcome.error).toMatchObject({ code: 'RUNTIME_ERROR', message: 'bad', name: 'TypeError' });
    });

    it('stops a memory bomb with MEMORY_LIMIT', async () => {
      const r = run(executor, spec("let s = 'x'; while (true) s += s", { memoryLimitBytes: 16 * 1024 * 1024 }));
      expect(failureCode(await r.done)).toBe('MEMORY_LIMIT');
    });

    it('stops unbounded recursion with STACK_OVERFLOW', async () => {
      const r = run(executor, spec('function f(n) { return f(n + 1) + 1 } return f(0)'));
      expect(failureCode(await r.done)).toBe('STACK_OVERFLOW');
    });

    it('still runs normally after the failures', async () => {
      expect(await run(executor, spec('return [1, 2].map((x) => x * 2)')).done).toEqual({ ok: true, resultJson: '[2,4]' });
    });
  });
}

export async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
