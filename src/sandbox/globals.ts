import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';
import type { GuestConsole } from './guest-console.js';
import { newRawFunction } from './host-calls.js';
import { borrow, type RawOps } from './raw.js';
import type { GuestTimers } from './timers.js';
import type { ToolCalls } from './tool-calls.js';

/** The parts of the sandbox behind the guest's globals. */
export interface GuestGlobals {
  calls: ToolCalls;
  timers: GuestTimers;
  console: GuestConsole;
}

/**
 * Defines the guest's globals that do not depend on the session, as host functions (no
 * bootstrap script is parsed per session): `callTool`, `setTimeout` and `clearTimeout` as
 * data properties that cannot be changed, and `console` as a getter-only accessor that
 * cannot be reconfigured, answering the same frozen object on every read (built on the first).
 * `context`, `tools` and the replayable `Date` and `Math.random` come with the session.
 */
export function installGlobals(ctx: QuickJSContext, raw: RawOps, globals: GuestGlobals): void {
  const { calls, timers, console: guestConsole } = globals;
  const global = borrow(ctx.global);
  const define = (name: string, value: QuickJSHandle) => {
    raw.defineProp(global, name, { value: borrow(value), configurable: false, enumerable: false });
    value.dispose();
  };
  // Answers a raw value pointer: the fast dispatch (host-calls.ts) hands it to the engine.
  define(
    'callTool',
    newRawFunction(ctx, 'callTool', (name, args) => calls.call(name, args)),
  );
  define(
    'setTimeout',
    ctx.newFunction('setTimeout', (fn, ms, ...args) => timers.set(fn, ms, args)),
  );
  define(
    'clearTimeout',
    ctx.newFunction('clearTimeout', (id) => timers.clear(id)),
  );
  const getConsole = ctx.newFunction('console', () => guestConsole.object());
  raw.defineProp(global, 'console', { get: borrow(getConsole), configurable: false, enumerable: false });
  getConsole.dispose();
}
