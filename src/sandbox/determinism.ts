import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';

/**
 * What makes a guest's own sources of nondeterminism replayable: `Math.random` becomes a PRNG
 * seeded with `seed`, and `Date.now()` / `new Date()` read a virtual clock that starts at
 * `startTime` and moves only when the host advances it (with each journaled tool result).
 * A re-run of the same code with the same seed, start time and journal sees the same values.
 */
export interface DeterminismSpec {
  /** 32-bit seed of `Math.random`. */
  seed: number;
  /** Epoch ms the clock shows until the first advance (the session's `createdAt`). */
  startTime: number;
}

export interface VirtualClock {
  /** Moves the clock to `at` (never backwards). */
  advance(at: number): void;
}

/**
 * Makes the seeded `Math.random` and the virtual `Date`, and puts them in place of the real
 * ones. It uses only what it is given (captured before any guest code ran), so a guest that
 * changed the built-ins before its first use of `Date` or `Math.random` cannot interfere.
 * Answers `[random, Date, assign]`, `assign` defining a plain data property.
 */
const SOURCE = `(function (now, seed, RealDate, construct, imul, defineProperty, math, global) {
  'use strict';
  let s = seed | 0;
  const random = function random() {
    s = (s + 0x6d2b79f5) | 0;
    let t = imul(s ^ (s >>> 15), 1 | s);
    t = (t + imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const VDate = function Date(...args) {
    if (new.target === undefined) return new RealDate(now()).toString();
    return construct(RealDate, args.length === 0 ? [now()] : args, new.target);
  };
  VDate.prototype = RealDate.prototype;
  const assign = function (target, key, value) {
    defineProperty(target, key, { __proto__: null, value, writable: true, configurable: true, enumerable: false });
  };
  assign(VDate, 'now', function now_() { return now(); });
  assign(VDate, 'parse', RealDate.parse);
  assign(VDate, 'UTC', RealDate.UTC);
  assign(RealDate.prototype, 'constructor', VDate);
  // Fails only when the guest froze the object first: its accessor then keeps answering.
  try { assign(math, 'random', random); } catch (e) {}
  try { assign(global, 'Date', VDate); } catch (e) {}
  return [random, VDate, assign];
})`;

/**
 * Installs the seeded `Math.random` and the virtual clock in `ctx`; returns the clock.
 *
 * Compiling the replacements costs far more than most sessions run (≈ 0.3 ms in QuickJS), so
 * they are made on first use: until then `Math.random` and the global `Date` are accessors
 * that install them and answer the replacement. Code that never reads them pays only for the
 * accessors. Each handle kept for later is handed to `own`, which must dispose it before the
 * context is disposed.
 */
export function installDeterminism(ctx: QuickJSContext, spec: DeterminismSpec, own: (handle: QuickJSHandle) => void): VirtualClock {
  let time = spec.startTime;
  const keep = <T extends QuickJSHandle>(handle: T): T => {
    own(handle);
    return handle;
  };
  // Captured now, before any guest code runs.
  const math = keep(ctx.getProp(ctx.global, 'Math'));
  const realDate = keep(ctx.getProp(ctx.global, 'Date'));
  const reflect = ctx.getProp(ctx.global, 'Reflect');
  const construct = keep(ctx.getProp(reflect, 'construct'));
  reflect.dispose();
  const object = ctx.getProp(ctx.global, 'Object');
  const defineProperty = keep(ctx.getProp(object, 'defineProperty'));
  object.dispose();
  const imul = keep(ctx.getProp(math, 'imul'));

  let made: { random: QuickJSHandle; date: QuickJSHandle; assign: QuickJSHandle } | undefined;
  let making = false;
  const make = () => {
    if (made) return made;
    if (making) throw new Error('Date and Math.random are not ready yet');
    making = true;
    try {
      const now = ctx.newFunction('now', () => ctx.newNumber(time));
      const seed = ctx.newNumber(spec.seed | 0);
      const installer = ctx.unwrapResult(ctx.evalCode(SOURCE, 'enclave:determinism'));
      try {
        const args = [now, seed, realDate, construct, imul, defineProperty, math, ctx.global];
        const list = ctx.unwrapResult(ctx.callFunction(installer, ctx.undefined, args));
        made = { random: keep(ctx.getProp(list, 0)), date: keep(ctx.getProp(list, 1)), assign: keep(ctx.getProp(list, 2)) };
        list.dispose();
      } finally {
        installer.dispose();
        seed.dispose();
        now.dispose();
      }
      return made;
    } finally {
      making = false;
    }
  };
  const lazy = (target: QuickJSHandle, key: string, pick: (m: NonNullable<typeof made>) => QuickJSHandle) => {
    ctx.defineProp(target, key, {
      configurable: true,
      enumerable: false,
      get: () => pick(make()).dup(),
      set: function (this: QuickJSHandle, value: QuickJSHandle) {
        // What assigning to the data property would do: an own property of the receiver.
        const key_ = ctx.newString(key);
        try {
          ctx.unwrapResult(ctx.callFunction(make().assign, ctx.undefined, this, key_, value)).dispose();
        } finally {
          key_.dispose();
        }
      },
    });
  };
  lazy(math, 'random', (m) => m.random);
  lazy(ctx.global, 'Date', (m) => m.date);
  return {
    advance(at: number): void {
      if (at > time) time = at;
    },
  };
}
