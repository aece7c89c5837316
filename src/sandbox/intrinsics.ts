/**
 * Which of the engine's built-ins a session's context gets.
 *
 * Every standard built-in is named one by one: the same globals as the engine's default
 * context except `WeakRef` and `FinalizationRegistry`, whose callbacks would run at moments no
 * replay can reproduce (see guest-source.ts). Naming them also skips a script per session
 * that deleted those two.
 *
 * The typed arrays (`ArrayBuffer`, `SharedArrayBuffer`, `DataView` and the eleven typed-array
 * constructors) are a quarter of what creating and freeing a context costs, and a script can do
 * nothing with them that reaches beyond the sandbox: no host API takes or gives binary data,
 * and values cross as JSON. A context gets them when the script's source names one of them,
 * anywhere (code, string or comment), so `new Uint8Array(n)`, `x instanceof ArrayBuffer` and
 * `eval('new DataView(b)')` all find them. A script that reaches them only by a computed name
 * (`globalThis['Uint' + '8Array']`) or an escaped one (`Uint8\u0041rray`) finds `undefined`.
 */
import type { Intrinsics } from 'quickjs-emscripten-core';

/** All built-ins, typed arrays included. */
export const FULL_INTRINSICS: Readonly<Intrinsics> = Object.freeze({
  BaseObjects: true,
  Date: true,
  Eval: true,
  StringNormalize: true,
  RegExp: true,
  RegExpCompiler: true,
  JSON: true,
  Proxy: true,
  MapSet: true,
  TypedArrays: true,
  Promise: true,
  BigInt: true,
});

/** The built-ins of a script that names no typed array. */
export const LEAN_INTRINSICS: Readonly<Intrinsics> = Object.freeze({ ...FULL_INTRINSICS, TypedArrays: false });

/** The globals the `TypedArrays` intrinsic adds (as this engine build defines them). */
export const TYPED_ARRAY_GLOBALS: readonly string[] = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
  'Float16Array',
  'Float32Array',
  'Float64Array',
];

// The names themselves, so that `Array` or `isArray` do not count. A longer identifier that
// contains one (`myUint8ArrayCache`) counts too: that only costs the full context.
const NAMES = new RegExp(`(?:${TYPED_ARRAY_GLOBALS.join('|')})`);

let lastCode: string | undefined;
let lastAnswer = false;

/** Whether a context for `code` needs the typed arrays (see above). */
export function needsTypedArrays(code: string): boolean {
  // The executor asks before it picks a sandbox and the sandbox asks again: one scan.
  if (code !== lastCode) {
    lastAnswer = NAMES.test(code);
    lastCode = code;
  }
  return lastAnswer;
}

/** The intrinsics of a context that will run `code`. */
export function intrinsicsFor(code: string): Readonly<Intrinsics> {
  return needsTypedArrays(code) ? FULL_INTRINSICS : LEAN_INTRINSICS;
}
