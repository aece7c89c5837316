import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/pool/executor.js';
import { InlineExecutor } from '../../src/pool/inline.js';
import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import type { SandboxHandle, SandboxOutcome } from '../../src/sandbox/types.js';
import { spec } from '../pool/helpers.js';

// A sandbox of a deterministic (durable) session: seeded Math.random, a virtual clock that
// moves only with the inputs, and timers run by the listener. Inline and in a pool worker.

const START = Date.UTC(2025, 0, 2, 3, 4, 5);

interface TimerRun {
  handle: SandboxHandle;
  done: Promise<SandboxOutcome>;
  /** `set <id> <ms>` / `clear <id>` / `call <name>`, in the order the listener heard them. */
  heard: string[];
  /** Resolves once the listener heard `count` things. */
  heardAt(count: number): Promise<void>;
}

function start(executor: Executor, code: string, seed = 7): TimerRun {
  const heard: string[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const note = (s: string) => {
    heard.push(s);
    for (const w of waiters.filter((w) => heard.length >= w.count)) w.resolve();
  };
  let resolve!: (o: SandboxOutcome) => void;
  const done = new Promise<SandboxOutcome>((r) => (resolve = r));
  const handle = executor.start(
    { ...spec(code), determinism: { seed, startTime: START } },
    {
      onToolCall: (_id, name) => note(`call ${name}`),
      onStdout: () => {},
      onLog: () => {},
      onDone: resolve,
      onTimerSet: (id, ms) => note(`set ${id} ${ms}`),
      onTimerCleared: (id) => note(`clear ${id}`),
    },
  );
  return {
    handle,
    done,
    heard,
    heardAt: (count) => (heard.length >= count ? Promise.resolve() : new Promise((r) => waiters.push({ count, resolve: r }))),
  };
}

const result = (o: SandboxOutcome) => (o.ok ? JSON.parse(o.resultJson ?? 'null') : o.error);

for (const [name, create] of [
  ['inline', () => new InlineExecutor()],
  ['pool', () => new WorkerPoolExecutor({ minSize: 1, maxSize: 1 })],
] as const) {
  describe(`deterministic sandbox (${name})`, () => {
    let executor: Executor;
    beforeAll(async () => {
      executor = create();
      await executor.warm();
    });
    afterAll(() => executor.close());

    it('shows a clock that stands still between inputs and a seeded Math.random', async () => {
      const code =
        'const a = Date.now(); for (let i = 0; i < 1e5; i++); return [a, Date.now(), new Date().getTime(), typeof Date(), Math.random(), Math.random()]';
      const [one, two, other] = await Promise.all([start(executor, code).done, start(executor, code).done, start(executor, code, 8).done]);
      const [a, b, c, d, r1, r2] = result(one);
      expect([a, b, c, d]).toEqual([START, START, START, 'string']);
      expect(r1).not.toBe(r2);
      expect(result(two)).toEqual(result(one));
      expect(result(other).slice(4)).not.toEqual([r1, r2]);
    });

    it('replaces Date and Math.random on first use with plain writable properties', async () => {
      const untouched = 'return [typeof Object.getOwnPropertyDescriptor(globalThis, "Date").get, Object.keys(globalThis).includes("Date")]';
      expect(result(await start(executor, untouched).done)).toEqual(['function', false]);
      const used = `Date.now();
        const d = Object.getOwnPropertyDescriptor(globalThis, "Date");
        const r = Object.getOwnPropertyDescriptor(Math, "random");
        const before = [d.writable, d.enumerable, d.configurable, r.writable, new Date(0).toISOString(), new Date(5) instanceof Date, Date.UTC(2000, 0), Date.parse("2000-01-01T00:00:00Z")];
        Date = 1; Math.random = () => 2;
        return [...before, Date, Math.random()]`;
      expect(result(await start(executor, used).done)).toEqual([true, false, true, true, '1970-01-01T00:00:00.000Z', true, 946684800000, 946684800000, 1, 2]);
      // Assigning first works too.
      expect(result(await start(executor, 'Math.random = () => 3; return [Math.random(), typeof Date.now()]').done)).toEqual([3, 'number']);
    });

    it('installs its replacements with intrinsics taken before the guest ran, whatever the guest replaced first', async () => {
      const bystander = start(executor, 'return await callTool("wait", {})');
      const cases: [string, unknown][] = [
        ['Object.defineProperty = () => {}; return [Date.now(), typeof Math.random()]', [START, 'number']],
        ['globalThis = {}; return [Date.now(), Math.random() < 1]', [START, true]],
        ['Reflect.construct = () => 1; return new Date().getTime()', START],
        ['Math.imul = () => 0; const a = Math.random(); return a > 0 && a < 1', true],
        // Self-inflicted: the replacements cannot be installed, and the guest loses both.
        ['Object.freeze(Math); try { Math.random() } catch (e) { return [e.name, typeof Math.random, typeof Date] }', ['TypeError', 'undefined', 'undefined']],
      ];
      for (const [code, expected] of cases) expect(result(await start(executor, code).done), code).toEqual(expected);
      // Nothing of it reached another sandbox.
      await bystander.heardAt(1);
      bystander.handle.settleTool(1, { ok: true, resultJson: '"fine"' });
      expect(result(await bystander.done)).toBe('fine');
    });

    it('leaves timers to the listener: reports them when the guest yields, fires them with the clock it is given', async () => {
      const r = start(
        executor,
        `const order = [];
         setTimeout(() => order.push(["late", Date.now()]), 50);
         clearTimeout(setTimeout(() => order.push(["never"]), 1));
         const gone = setTimeout(() => order.push(["cleared"]), 1);
         setTimeout((x) => { order.push(["first", Date.now(), x]); clearTimeout(gone); }, 0, "arg");
         await callTool("wait", {});
         return order`,
      );
      await r.heardAt(4);
      // Timer 2 was set and cleared in one turn: never reported. The call comes first (timers
      // are reported when the guest yields).
      expect(r.heard).toEqual(['call wait', 'set 1 50', 'set 3 1', 'set 4 0']);
      // No host timer fires them: nothing happens until the listener does.
      await new Promise((res) => setTimeout(res, 80));
      expect(r.heard).toHaveLength(4);
      r.handle.fireTimer(4, START + 10);
      await r.heardAt(5);
      expect(r.heard[4]).toBe('clear 3');
      r.handle.fireTimer(3, START + 11); // cleared: ignored, clock included
      r.handle.fireTimer(1, START + 20);
      r.handle.fireTimer(1, START + 30); // fired already: ignored
      r.handle.settleTool(1, { ok: true, resultJson: 'null' });
      expect(result(await r.done)).toEqual([
        ['first', START + 10, 'arg'],
        ['late', START + 20],
      ]);
    });

    it('moves the clock with tool outcomes (never backwards)', async () => {
      const r = start(executor, 'const a = Date.now(); await callTool("x", {}); const b = Date.now(); await callTool("y", {}); return [a, b, Date.now()]');
      await r.heardAt(1);
      r.handle.settleTool(1, { ok: true, resultJson: '1', at: START + 100 });
      await r.heardAt(2);
      r.handle.settleTool(2, { ok: true, resultJson: '1', at: START + 50 });
      expect(result(await r.done)).toEqual([START, START + 100, START + 100]);
    });
  });
}
