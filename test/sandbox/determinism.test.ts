import variant from '@jitl/quickjs-wasmfile-release-sync';
import { newQuickJSWASMModuleFromVariant, type QuickJSHandle, type QuickJSWASMModule } from 'quickjs-emscripten-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { installDeterminism } from '../../src/sandbox/determinism.js';

let mod: QuickJSWASMModule;
beforeAll(async () => {
  mod = await newQuickJSWASMModuleFromVariant(variant as never);
});

/** Runs `code` (a function body) in a fresh context with determinism installed; its JSON result. */
function run(code: string, seed = 7, startTime = 1_000_000, advanceTo?: number): unknown {
  const runtime = mod.newRuntime();
  const ctx = runtime.newContext();
  const owned: QuickJSHandle[] = [];
  const clock = installDeterminism(ctx, { seed, startTime }, (h) => owned.push(h));
  if (advanceTo !== undefined) clock.advance(advanceTo);
  const result = ctx.evalCode(`JSON.stringify((function () { ${code} })())`);
  try {
    if (result.error) throw new Error(JSON.stringify(ctx.dump(result.error)));
    return JSON.parse(ctx.getString(result.value));
  } finally {
    result.dispose();
    // Every kept handle goes before the context: disposing it must not abort the runtime.
    for (const h of owned) h.dispose();
    ctx.dispose();
    runtime.dispose();
  }
}

describe('determinism', () => {
  it('seeds Math.random: the same seed gives the same numbers', () => {
    const a = run('return [Math.random(), Math.random(), Math.random()]') as number[];
    expect(run('return [Math.random(), Math.random(), Math.random()]')).toEqual(a);
    expect(run('return [Math.random(), Math.random(), Math.random()]', 8)).not.toEqual(a);
    for (const x of a) expect(x >= 0 && x < 1).toBe(true);
  });

  it('shows the virtual clock through Date, whose other uses behave as before', () => {
    expect(
      run(`return [Date.now(), new Date().getTime(), new Date(0).getTime(), typeof Date(), new Date(0) instanceof Date,
        new Date(0).constructor === Date, Date.name, Date.UTC(2020, 0, 1), Date.parse('2020-01-01T00:00:00Z')]`),
    ).toEqual([1_000_000, 1_000_000, 0, 'string', true, true, 'Date', 1577836800000, 1577836800000]);
    expect(run('class Later extends Date {} const d = new Later(); return [d.getTime(), d instanceof Later]')).toEqual([1_000_000, true]);
    expect(run('return Date.now()', 7, 1_000_000, 2_000_000)).toBe(2_000_000);
  });

  it('keeps Date and Math.random replaceable, writable and non-enumerable', () => {
    expect(run('Math.random = () => 4; Date = 5; return [Math.random(), Date]')).toEqual([4, 5]);
    expect(
      run(`Date.now(); Math.random();
        const d = Object.getOwnPropertyDescriptor(globalThis, 'Date');
        const r = Object.getOwnPropertyDescriptor(Math, 'random');
        return [d.writable, d.configurable, d.enumerable, r.writable, r.configurable, r.enumerable]`),
    ).toEqual([true, true, false, true, true, false]);
    expect(run('return [Object.keys(globalThis).includes("Date"), Object.keys(Math).includes("random")]')).toEqual([false, false]);
    expect(run('delete globalThis.Date; return typeof Date')).toBe('undefined');
  });

  it('stays deterministic when the guest changes built-ins before its first use of them', () => {
    const plain = run('return [Date.now(), Math.random()]');
    expect(
      run(`Object.defineProperty = null; Reflect.construct = null; Math.imul = null;
        Object.prototype.get = function () { return 1 };
        return [Date.now(), Math.random()]`),
    ).toEqual(plain);
    expect(run('Object.freeze(Math); return [Date.now(), Math.random()]')).toEqual(plain);
  });

  it('leaves a context whose code never reads the clock disposable', () => {
    expect(run('return 1 + 2')).toBe(3);
  });
});
