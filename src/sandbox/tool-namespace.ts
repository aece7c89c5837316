import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';
import { borrow, type OwnedValue, type RawOps } from './raw.js';

/**
 * The guest's `tools` global: `tools.users.list(args)` for the tool `users:list` (the mapping
 * of names is tools/namespace.ts's). Its functions are the guest's own `callTool` bound to a
 * tool name (`callTool.bind(null, 'users:list')`, made by the guest's own `bind`), held by plain
 * frozen guest objects: no host object stands behind it, and a call is exactly
 * `callTool(name, args)`.
 *
 * Cost: a session gets the global only when its code names `tools` (anywhere: code, string
 * or comment; see `mentionsTools`). Even then nothing is built until the first read: the
 * global starts as an accessor whose getter builds the object, then replaces itself with a
 * plain writable data property (as a built-in global is), so later reads cost nothing. Code
 * that assigns `tools` (its own global of that name) replaces it without a build. The build
 * runs no guest source (parsing even a small builder cost ≈ 80–130 µs, a session's worth):
 * the host makes the objects through engine calls, about ten per tool.
 */

/** Whether code may read the `tools` global (the name appears in it). */
export function mentionsTools(code: string): boolean {
  return /\btools\b/.test(code);
}

/**
 * Defines the lazy `tools` global in `ctx`. `planJson` is the plan of tools/namespace.ts,
 * grouped: `[[namespace, [[member, toolName], …]], …]` with the functions on `tools` itself
 * under namespace `''`. `own` keeps handles that must live as long as the context.
 */
export function installToolNamespace(ctx: QuickJSContext, raw: RawOps, planJson: string, own: (h: QuickJSHandle) => void): void {
  const global = borrow(ctx.global);
  const kept = (ptr: OwnedValue) => {
    const h = raw.handle(ptr);
    own(h);
    return h;
  };
  // Captured now, before any guest code runs: by the first read of `tools` the guest may have
  // replaced any of them, or `callTool`'s holder.
  const callTool = kept(raw.getProp(global, 'callTool'));
  const freeze = kept(raw.getPropOf(global, 'Object', 'freeze'));
  const defineProperty = kept(raw.getPropOf(global, 'Object', 'defineProperty'));
  const functionCtor = raw.getProp(global, 'Function');
  const bind = kept(raw.getPropOf(functionCtor, 'prototype', 'bind'));
  raw.free(functionCtor);

  /** Defines `global.tools` as a writable, configurable, non-enumerable data property. */
  const defineGlobal = (value: QuickJSHandle) => {
    // A descriptor without a prototype: a guest that added `get` to Object.prototype cannot
    // turn it into an accessor.
    const desc = ctx.newObject(ctx.null);
    const key = ctx.newString('tools');
    try {
      ctx.defineProp(desc, 'value', { value, enumerable: true, configurable: true });
      ctx.defineProp(desc, 'writable', { value: ctx.true, enumerable: true, configurable: true });
      ctx.defineProp(desc, 'configurable', { value: ctx.true, enumerable: true, configurable: true });
      ctx.unwrapResult(ctx.callFunction(defineProperty, ctx.undefined, ctx.global, key, desc)).dispose();
    } finally {
      key.dispose();
      desc.dispose();
    }
  };

  const build = (): QuickJSHandle => {
    const plan = JSON.parse(planJson) as [string, [string, string][]][];
    const root = ctx.newObject();
    try {
      for (const [namespace, members] of plan) {
        const target = namespace === '' ? root : ctx.newObject();
        try {
          for (const [member, toolName] of members) {
            const name = ctx.newString(toolName);
            const fn = ctx.unwrapResult(ctx.callFunction(bind, callTool, ctx.null, name));
            name.dispose();
            try {
              const label = ctx.newString(member);
              ctx.defineProp(fn, 'name', { value: label, configurable: true, enumerable: false });
              label.dispose();
              ctx.defineProp(target, member, { value: fn, configurable: false, enumerable: true });
            } finally {
              fn.dispose();
            }
          }
          if (target !== root) {
            ctx.unwrapResult(ctx.callFunction(freeze, ctx.undefined, target)).dispose();
            ctx.defineProp(root, namespace, { value: target, configurable: false, enumerable: true });
          }
        } finally {
          if (target !== root) target.dispose();
        }
      }
      ctx.unwrapResult(ctx.callFunction(freeze, ctx.undefined, root)).dispose();
      defineGlobal(root);
      return root;
    } catch (err) {
      root.dispose();
      throw err;
    }
  };

  // A getter that runs again while it runs (a build that failed half-way) answers undefined.
  // One function is both the getter (called with no argument) and the setter (with one).
  let busy = false;
  const accessor = ctx.newFunction('tools', (...args: QuickJSHandle[]) => {
    if (busy) return args.length === 0 ? ctx.undefined : undefined;
    busy = true;
    try {
      if (args.length > 0) {
        defineGlobal(args[0]!);
        return undefined;
      }
      return build();
    } finally {
      busy = false;
    }
  });
  const fn = borrow(accessor);
  raw.defineProp(global, 'tools', { get: fn, set: fn, configurable: true, enumerable: false });
  accessor.dispose();
}
