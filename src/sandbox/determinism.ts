import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';
import { borrow, type BorrowedValue, type OwnedValue, type RawOps } from './raw.js';

/**
 * What makes a guest's own sources of nondeterminism replayable: `Math.random` becomes a PRNG
 * seeded with `seed`, and `Date.now()` / `new Date()` read a virtual clock that starts at
 * `startTime` and moves only when the host advances it (with each journaled tool result or
 * timer firing). A re-run of the same code with the same seed, start time and journal sees
 * the same values.
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

// Uses only its parameters (captured before any guest code ran): the guest may have replaced
// `Object.defineProperty`, `Reflect.construct`, `Math.imul` or `globalThis` by the time the
// replacements are installed.
const SOURCE = `(function (now, seed, RealDate, global, math, defineProperty, construct, imul) {
  'use strict';
  let s = seed | 0;
  const random = function random() {
    s = (s + 0x6d2b79f5) | 0;
    let t = imul(s ^ (s >>> 15), 1 | s);
    t = (t + imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  defineProperty(math, 'random', { value: random, writable: true, configurable: true, enumerable: false });
  const VDate = function Date(...args) {
    if (new.target === undefined) return new RealDate(now()).toString();
    return construct(RealDate, args.length === 0 ? [now()] : args, new.target);
  };
  VDate.prototype = RealDate.prototype;
  defineProperty(VDate, 'now', { value: function now_() { return now(); }, writable: true, configurable: true, enumerable: false });
  defineProperty(VDate, 'parse', { value: RealDate.parse, writable: true, configurable: true, enumerable: false });
  defineProperty(VDate, 'UTC', { value: RealDate.UTC, writable: true, configurable: true, enumerable: false });
  defineProperty(RealDate.prototype, 'constructor', { value: VDate, writable: true, configurable: true, enumerable: false });
  defineProperty(global, 'Date', { value: VDate, writable: true, configurable: true, enumerable: false });
})`;

/**
 * Makes `Math.random` and `Date` replayable in `ctx`; returns the clock.
 *
 * Parsing the replacements costs more than a short session (QuickJS parses ≈ 0.2 ms per KB),
 * so they are installed on first use: until then `globalThis.Date` and `Math.random` are
 * accessors whose getter (or setter) installs both, then answers as the plain properties
 * would. Code that never reads either pays for two accessors only. `own` receives handles
 * that must live as long as the context.
 */
export function installDeterminism(ctx: QuickJSContext, raw: RawOps, spec: DeterminismSpec, own: (h: QuickJSHandle) => void): VirtualClock {
  let time = spec.startTime;
  let installed = false;
  const global = borrow(ctx.global);
  const kept = (ptr: OwnedValue) => {
    const h = raw.handle(ptr);
    own(h);
    return h;
  };
  const read = (target: BorrowedValue, key: string) => kept(raw.getProp(target, key));
  const readVia = (name: string, key: string) => kept(raw.getPropOf(global, name, key));
  // Captured now, before any guest code runs (see SOURCE).
  const math = read(global, 'Math');
  const realDate = read(global, 'Date');
  const defineProperty = readVia('Object', 'defineProperty');
  const construct = readVia('Reflect', 'construct');
  const imul = read(borrow(math), 'imul');

  const install = () => {
    if (installed) return;
    installed = true;
    // The installer defines both as plain data properties, replacing the accessors.
    const now = ctx.newFunction('now', () => ctx.newNumber(time));
    const seed = ctx.newNumber(spec.seed | 0);
    try {
      const installer = ctx.unwrapResult(ctx.evalCode(SOURCE, 'enclave:determinism'));
      try {
        ctx.unwrapResult(ctx.callFunction(installer, ctx.undefined, now, seed, realDate, ctx.global, math, defineProperty, construct, imul)).dispose();
      } finally {
        installer.dispose();
      }
    } finally {
      seed.dispose();
      now.dispose();
    }
  };

  // A getter that runs again while it runs (an install that failed half-way) answers undefined.
  // One function is both the getter (called with no argument) and the setter (with one).
  let reading = false;
  const lazy = (target: QuickJSHandle, key: string) => {
    const accessor = ctx.newFunction(key, (...args: QuickJSHandle[]) => {
      if (reading) return args.length === 0 ? ctx.undefined : undefined;
      reading = true;
      try {
        install();
        if (args.length === 0) return ctx.getProp(target, key);
        ctx.setProp(target, key, args[0]!);
        return undefined;
      } finally {
        reading = false;
      }
    });
    const fn = borrow(accessor);
    raw.defineProp(borrow(target), key, { get: fn, set: fn, configurable: true, enumerable: false });
    accessor.dispose();
  };
  lazy(ctx.global, 'Date');
  lazy(math, 'random');

  return {
    advance(at: number): void {
      if (at > time) time = at;
    },
  };
}
