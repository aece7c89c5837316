// The raw value layer's ownership: what a ValueScope frees, and what the types refuse.
import releaseSyncVariant from '@jitl/quickjs-wasmfile-release-sync';
import { newQuickJSWASMModuleFromVariant, type QuickJSContext, type QuickJSRuntime } from 'quickjs-emscripten-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { borrow, RawOps, type BorrowedValue, type OwnedValue } from '../../src/sandbox/raw.js';
import { ValueScope } from '../../src/sandbox/value-scope.js';

let runtime: QuickJSRuntime;
let ctx: QuickJSContext;
let raw: RawOps;

beforeAll(async () => {
  const module = await newQuickJSWASMModuleFromVariant(releaseSyncVariant);
  runtime = module.newRuntime();
  ctx = runtime.newContext();
  raw = RawOps.create(ctx)!;
});

afterAll(() => {
  raw.dispose();
  ctx.dispose();
  // Disposing a runtime that still holds an object aborts the module: nothing leaked.
  runtime.dispose();
});

/** Objects alive in the runtime. */
function objects(): number {
  const usage = runtime.computeMemoryUsage();
  try {
    return (ctx.dump(usage) as { obj_count: number }).obj_count;
  } finally {
    usage.dispose();
  }
}

/** A new guest object, owned by the caller. */
function newObject(): OwnedValue {
  const create = raw.getPropOf(borrow(ctx.global), 'Object', 'create');
  const made = raw.call(create, borrow(ctx.null));
  raw.free(create);
  if (made.error !== undefined) throw new Error('Object.create failed');
  return made.value;
}

describe('ValueScope', () => {
  it('frees the raw values and handles it holds when the block returns', () => {
    // Object.create is read once first: its own reads are then part of the baseline.
    raw.free(newObject());
    const before = objects();
    const answer = ValueScope.run(raw, (scope) => {
      scope.own(newObject());
      scope.manage(ctx.newObject());
      return 42;
    });
    expect(answer).toBe(42);
    expect(objects()).toBe(before);
  });

  it('frees them when the block throws, and the block’s error is the one thrown', () => {
    raw.free(newObject());
    const before = objects();
    expect(() =>
      ValueScope.run(raw, (scope) => {
        scope.own(newObject());
        scope.manage(ctx.newObject());
        expect(objects()).toBe(before + 2);
        throw new Error('a call in between threw');
      }),
    ).toThrow('a call in between threw');
    expect(objects()).toBe(before);
  });

  it('hands on what the block keeps, and frees the rest', () => {
    raw.free(newObject());
    const before = objects();
    const kept = ValueScope.run(raw, (scope) => {
      const value = newObject();
      scope.own(value);
      scope.own(newObject());
      return scope.keep(value);
    });
    expect(objects()).toBe(before + 1);
    expect(raw.typeOf(kept)).toBe('object');
    raw.free(kept);
    expect(objects()).toBe(before);
  });

  it('skips a handle the block disposed itself', () => {
    raw.free(newObject());
    const before = objects();
    ValueScope.run(raw, (scope) => {
      scope.manage(ctx.newObject()).dispose();
    });
    expect(objects()).toBe(before);
  });

  it('frees nothing after a WASM abort, whose module must not be called again', () => {
    const freed: number[] = [];
    const fake = { free: (value: OwnedValue) => freed.push(value) } as unknown as RawOps;
    const abort = new WebAssembly.RuntimeError('unreachable');
    expect(() =>
      ValueScope.run(fake, (scope) => {
        scope.own(7 as OwnedValue);
        throw abort;
      }),
    ).toThrow(abort);
    expect(freed).toEqual([]);
  });

  it('frees last first, and an error while freeing does not replace the block’s', () => {
    const freed: number[] = [];
    const fake = {
      free: (value: OwnedValue) => {
        freed.push(value);
        if (value === 2) throw new Error('free failed');
      },
    } as unknown as RawOps;
    expect(() =>
      ValueScope.run(fake, (scope) => {
        scope.own(1 as OwnedValue);
        scope.own(2 as OwnedValue);
        scope.own(3 as OwnedValue);
        throw new Error('the block failed');
      }),
    ).toThrow('the block failed');
    expect(freed).toEqual([3, 2]);
  });
});

describe('raw value types', () => {
  it('let an owned value be lent, and refuse to free a borrowed one (checked by `npm run typecheck`)', () => {
    const owned = raw.newString('x');
    const lent: BorrowedValue = owned;
    expect(raw.getString(lent)).toBe('x');
    const global = borrow(ctx.global);
    // @ts-expect-error a borrowed value is kept alive by someone else: freeing it is refused
    if (Math.random() > 2) raw.free(global);
    // @ts-expect-error a plain number is no value: nothing says who owns it
    if (Math.random() > 2) raw.free(0);
    // @ts-expect-error a borrowed value cannot be handed over to a handle (which would free it)
    if (Math.random() > 2) raw.handle(global);
    raw.free(owned);
  });
});
