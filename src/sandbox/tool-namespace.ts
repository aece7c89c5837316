import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';
import type { RawOps, ValuePtr } from './raw.js';

/**
 * The guest's `tools` global: `tools.users.list(args)` for the tool `users:list` (the mapping
 * of names is tools/namespace.ts's). It is built in the guest from a plan the host hands
 * over — plain frozen objects whose functions call the guest's own `callTool` — so no host
 * object stands behind it, and a call is exactly `callTool(name, args)`.
 *
 * Cost: a session gets the global only when its code names `tools` (anywhere: code, string
 * or comment; see `mentionsTools`). Even then nothing is parsed or built until the first read:
 * the global starts as an accessor whose getter builds the object, then replaces itself with
 * a plain writable data property (as a built-in global is), so later reads cost nothing.
 * Code that assigns `tools` (its own global of that name) replaces it without a build.
 */

/** Whether code may read the `tools` global (the name appears in it). */
export function mentionsTools(code: string): boolean {
  return /\btools\b/.test(code);
}

// Uses only its parameters, captured before any guest code ran: by the first read of `tools`
// the guest may have replaced `Object.freeze`, `Object.defineProperty` or `callTool`'s holder.
// Descriptors have no prototype, so a guest that added `get` to Object.prototype does not
// turn them into accessors.
const SOURCE = `(function (plan, callTool, freeze, defineProperty, global, assigned, value) {
  'use strict';
  if (assigned) {
    defineProperty(global, 'tools', { __proto__: null, value: value, writable: true, configurable: true, enumerable: false });
    return value;
  }
  var make = function (name, member) {
    var fn = function (args) { return callTool(name, args); };
    defineProperty(fn, 'name', { __proto__: null, value: member, configurable: true });
    return fn;
  };
  var fill = function (target, members) {
    for (var j = 0; j < members.length; j++) {
      var m = members[j];
      defineProperty(target, m[0], { __proto__: null, value: make(m[1], m[0]), enumerable: true });
    }
    return target;
  };
  var root = {};
  for (var i = 0; i < plan.length; i++) {
    var group = plan[i];
    if (group[0] === '') fill(root, group[1]);
    else defineProperty(root, group[0], { __proto__: null, value: freeze(fill({}, group[1])), enumerable: true });
  }
  freeze(root);
  defineProperty(global, 'tools', { __proto__: null, value: root, writable: true, configurable: true, enumerable: false });
  return root;
})`;

/**
 * Defines the lazy `tools` global in `ctx`. `planJson` is the plan of tools/namespace.ts,
 * grouped: `[[namespace, [[member, toolName], …]], …]` with the functions on `tools` itself
 * under namespace `''`. `parse` is the guest's captured `JSON.parse`; `own` keeps handles
 * that must live as long as the context.
 */
export function installToolNamespace(
  ctx: QuickJSContext,
  raw: RawOps,
  planJson: string,
  parse: (json: string) => ReturnType<RawOps['call']>,
  own: (h: QuickJSHandle) => void,
): void {
  const global = ctx.global.value as unknown as ValuePtr;
  const kept = (ptr: ValuePtr) => {
    const h = raw.handle(ptr);
    own(h);
    return h;
  };
  // Captured now, before any guest code runs (see SOURCE).
  const callTool = kept(raw.getProp(global, 'callTool'));
  const freeze = kept(raw.getPropOf(global, 'Object', 'freeze'));
  const defineProperty = kept(raw.getPropOf(global, 'Object', 'defineProperty'));

  // A getter that runs again while it runs (a build that failed half-way) answers undefined.
  let busy = false;
  const accessor = ctx.newFunction('tools', (...args: QuickJSHandle[]) => {
    if (busy) return args.length === 0 ? ctx.undefined : undefined;
    busy = true;
    try {
      const assigned = args.length > 0;
      const parsed = assigned ? undefined : parse(planJson);
      if (parsed && parsed.error !== undefined) {
        const error = raw.handle(parsed.error);
        throw error;
      }
      const plan = parsed ? raw.handle(parsed.value) : ctx.undefined;
      try {
        const builder = ctx.unwrapResult(ctx.evalCode(SOURCE, 'enclave:tools'));
        try {
          const flag = assigned ? ctx.true : ctx.false;
          const result = ctx.unwrapResult(
            ctx.callFunction(builder, ctx.undefined, plan, callTool, freeze, defineProperty, ctx.global, flag, assigned ? args[0]! : ctx.undefined),
          );
          if (assigned) {
            result.dispose();
            return undefined;
          }
          return result;
        } finally {
          builder.dispose();
        }
      } finally {
        if (parsed) plan.dispose();
      }
    } finally {
      busy = false;
    }
  });
  const fn = accessor.value as unknown as ValuePtr;
  raw.defineProp(global, 'tools', { get: fn, set: fn, configurable: true, enumerable: false });
  accessor.dispose();
}
