import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';
import { clipText, isWasmAbort, MAX_ERROR_TEXT, type GuestErrorInfo } from './errors.js';
import { readGuestString } from './guest-string.js';
import { borrow, type RawOps } from './raw.js';

/** Longest `code` string carried to `details.code`. */
const MAX_CODE_TEXT = 256;

/**
 * What JSON can carry of a value the guest threw (SPEC §5):
 *
 * - an Error — any object whose `message` is a string — gives its `message`, its `name` (when
 *   a string) and its `stack`;
 * - any other object or array gives its JSON text as the message (`{"code":42}`), made by the
 *   guest's own `JSON.stringify` captured before the agent's code ran;
 * - a string is the message itself, a number, boolean or BigInt its text, `null` and
 *   `undefined` their names;
 * - a string or finite number `code` property of a thrown object becomes `code`.
 *
 * Reading runs guest code (getters, `toJSON`) under the session's interrupt; a part that
 * throws is left out. Texts are clipped (errors.ts) and read exactly, NUL characters included.
 */
export function readThrownValue(ctx: QuickJSContext, raw: RawOps, thrown: QuickJSHandle, stringify: QuickJSHandle): GuestErrorInfo {
  try {
    const type = ctx.typeof(thrown);
    if (type === 'object' || type === 'function') {
      if (ctx.sameValue(thrown, ctx.null)) return { message: 'null' };
      const message = stringProp(ctx, raw, thrown, 'message', stringify, MAX_ERROR_TEXT);
      const info: GuestErrorInfo = message !== undefined ? { message } : { message: jsonText(ctx, raw, thrown, stringify, type) };
      if (message !== undefined) {
        const name = stringProp(ctx, raw, thrown, 'name', stringify, 256);
        if (name !== undefined) info.name = name;
        const stack = stringProp(ctx, raw, thrown, 'stack', stringify, MAX_ERROR_TEXT * 2);
        if (stack !== undefined) info.stack = stack;
      }
      const code = codeProp(ctx, raw, thrown, stringify);
      if (code !== undefined) info.code = code;
      return info;
    }
    if (type === 'string') return { message: clipText(exactString(raw, thrown, stringify)) };
    if (type === 'number' || type === 'boolean' || type === 'bigint') return { message: ctx.getString(thrown) };
    if (type === 'symbol') return { message: 'a symbol' };
    return { message: type };
  } catch (err) {
    if (isWasmAbort(err)) throw err;
    return { message: 'an error that could not be read' };
  }
}

/** `value[key]` when it is a string (clipped); undefined otherwise, or when reading it threw. */
function stringProp(ctx: QuickJSContext, raw: RawOps, value: QuickJSHandle, key: string, stringify: QuickJSHandle, max: number): string | undefined {
  const prop = ctx.getProp(value, key);
  try {
    return ctx.typeof(prop) === 'string' ? clipText(exactString(raw, prop, stringify), max) : undefined;
  } finally {
    prop.dispose();
  }
}

/** A string or finite number `code` property. */
function codeProp(ctx: QuickJSContext, raw: RawOps, value: QuickJSHandle, stringify: QuickJSHandle): string | number | undefined {
  const prop = ctx.getProp(value, 'code');
  try {
    const type = ctx.typeof(prop);
    if (type === 'string') return clipText(exactString(raw, prop, stringify), MAX_CODE_TEXT);
    if (type === 'number') {
      const n = ctx.getNumber(prop);
      return Number.isFinite(n) ? n : undefined;
    }
    return undefined;
  } finally {
    prop.dispose();
  }
}

/** The JSON text of a thrown object, clipped; a description when JSON cannot represent it. */
function jsonText(ctx: QuickJSContext, raw: RawOps, value: QuickJSHandle, stringify: QuickJSHandle, type: string): string {
  const result = ctx.callFunction(stringify, ctx.undefined, value);
  if (result.error) {
    const reason = stringProp(ctx, raw, result.error, 'message', stringify, 256);
    result.error.dispose();
    return `a thrown ${type} that JSON cannot represent${reason ? ` (${reason})` : ''}`;
  }
  try {
    if (ctx.typeof(result.value) !== 'string') return type === 'function' ? 'a thrown function' : 'undefined';
    return clipText(exactString(raw, result.value, stringify));
  } finally {
    result.value.dispose();
  }
}

function exactString(raw: RawOps, value: QuickJSHandle, stringify: QuickJSHandle): string {
  const ptr = borrow(value);
  return readGuestString(raw, ptr, borrow(stringify)) ?? raw.getString(ptr);
}
