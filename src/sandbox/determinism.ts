import type { QuickJSContext } from 'quickjs-emscripten-core';

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

const SOURCE = `(function (now, seed) {
  'use strict';
  let s = seed | 0;
  const random = function random() {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  Object.defineProperty(Math, 'random', { value: random, writable: true, configurable: true, enumerable: false });
  const RealDate = globalThis.Date;
  const construct = Reflect.construct;
  const VDate = function Date(...args) {
    if (new.target === undefined) return new RealDate(now()).toString();
    return construct(RealDate, args.length === 0 ? [now()] : args, new.target);
  };
  VDate.prototype = RealDate.prototype;
  Object.defineProperty(VDate, 'now', { value: function now_() { return now(); }, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(VDate, 'parse', { value: RealDate.parse, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(VDate, 'UTC', { value: RealDate.UTC, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(RealDate.prototype, 'constructor', { value: VDate, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(globalThis, 'Date', { value: VDate, writable: true, configurable: true, enumerable: false });
})`;

/** Installs the seeded `Math.random` and the virtual clock in `ctx`; returns the clock. */
export function installDeterminism(ctx: QuickJSContext, spec: DeterminismSpec): VirtualClock {
  let time = spec.startTime;
  const now = ctx.newFunction('now', () => ctx.newNumber(time));
  const seed = ctx.newNumber(spec.seed | 0);
  const installer = ctx.unwrapResult(ctx.evalCode(SOURCE, 'enclave:determinism'));
  try {
    ctx.unwrapResult(ctx.callFunction(installer, ctx.undefined, now, seed)).dispose();
  } finally {
    installer.dispose();
    seed.dispose();
    now.dispose();
  }
  return {
    advance(at: number): void {
      if (at > time) time = at;
    },
  };
}
