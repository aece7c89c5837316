import type { HostileCase } from '../harness.js';

/** The documented globals of SPEC §2. */
export const DOCUMENTED_GLOBALS = ['callTool', 'clearTimeout', 'console', 'context', 'setTimeout'];

/** Standard ECMAScript globals QuickJS provides (plus its own `InternalError`). */
export const STANDARD_GLOBALS = [
  'AggregateError', 'Array', 'ArrayBuffer', 'BigInt', 'BigInt64Array', 'BigUint64Array', 'Boolean', 'DataView', 'Date',
  'Error', 'EvalError', 'Float16Array', 'Float32Array', 'Float64Array', 'Function', 'Infinity', 'Int16Array', 'Int32Array',
  'Int8Array', 'InternalError', 'Iterator', 'JSON', 'Map', 'Math', 'NaN', 'Number', 'Object', 'Promise', 'Proxy', 'RangeError',
  'ReferenceError', 'Reflect', 'RegExp', 'Set', 'SharedArrayBuffer', 'String', 'Symbol', 'SyntaxError', 'TypeError', 'URIError',
  'Uint16Array', 'Uint32Array', 'Uint8Array', 'Uint8ClampedArray', 'WeakMap', 'WeakSet', 'decodeURI', 'decodeURIComponent',
  'encodeURI', 'encodeURIComponent', 'escape', 'eval', 'globalThis', 'isFinite', 'isNaN', 'parseFloat', 'parseInt', 'undefined',
  'unescape',
];

const HOST_NAMES = [
  'process', 'require', 'module', 'exports', 'fetch', 'std', 'os', 'print', 'scriptArgs', 'Deno', 'Bun', 'WebAssembly',
  'Atomics', 'gc', 'queueMicrotask', 'setInterval', 'setImmediate', 'XMLHttpRequest', 'WebSocket', 'importScripts',
  'Buffer', 'global', 'window', 'self', 'navigator', 'crypto', 'performance', 'FinalizationRegistry', 'WeakRef',
];

/** Installed only for a script that names one of them (src/sandbox/intrinsics.ts). */
export const TYPED_ARRAY_GLOBALS = [
  'ArrayBuffer', 'BigInt64Array', 'BigUint64Array', 'DataView', 'Float16Array', 'Float32Array', 'Float64Array', 'Int16Array',
  'Int32Array', 'Int8Array', 'SharedArrayBuffer', 'Uint16Array', 'Uint32Array', 'Uint8Array', 'Uint8ClampedArray',
];

/** What the guest can see of its world: exactly the documented and standard globals. */
export const reconCases: HostileCase[] = [
  {
    id: 'recon/exact-globals', class: 'recon', code: 'return Object.getOwnPropertyNames(globalThis).sort()',
    expect: { ok: true, value: [...DOCUMENTED_GLOBALS, ...STANDARD_GLOBALS].filter((n) => !TYPED_ARRAY_GLOBALS.includes(n)).sort() },
  },
  {
    id: 'recon/exact-globals-typed-arrays', class: 'recon', code: 'void Uint8Array; return Object.getOwnPropertyNames(globalThis).sort()',
    expect: { ok: true, value: [...DOCUMENTED_GLOBALS, ...STANDARD_GLOBALS].sort() },
  },
  { id: 'recon/global-symbols', class: 'recon', code: 'return Object.getOwnPropertySymbols(globalThis).map(String)', expect: { ok: true, value: ['Symbol(Symbol.toStringTag)'] } },
  { id: 'recon/host-names-absent', class: 'recon', code: `return ${JSON.stringify(HOST_NAMES)}.filter((n) => typeof globalThis[n] !== 'undefined')`, expect: { ok: true, value: [] } },
  { id: 'recon/no-enclave-names', class: 'recon', code: 'const names = []; for (let o = globalThis; o; o = Object.getPrototypeOf(o)) names.push(...Object.getOwnPropertyNames(o)); return names.filter((n) => /enclave|host|^__(?!proto__|defineGetter__|defineSetter__|lookupGetter__|lookupSetter__)/i.test(n))', expect: { ok: true, value: [] } },
  { id: 'recon/dynamic-import', class: 'recon', code: "return await import('node:fs')", expect: { code: 'RUNTIME_ERROR' } },
  { id: 'recon/dynamic-import-caught', class: 'recon', code: "const out = []; for (const s of ['fs', 'std', 'os', 'data:text/javascript,export default 1', './agent.js', 'enclave:guest']) { try { await import(s); out.push('loaded ' + s) } catch (e) { out.push(e.name) } } return out.filter((x) => x.startsWith('loaded'))", expect: { ok: true, value: [] } },
  { id: 'recon/import-in-eval', class: 'recon', code: "try { await eval('import(\"os\")') } catch (e) { return e.name }", expect: { ok: true, value: 'ReferenceError' } },
  { id: 'recon/static-import', class: 'recon', code: "import fs from 'fs'; return 1", expect: { code: 'SYNTAX_ERROR' } },
  { id: 'recon/require', class: 'recon', code: "return require('fs')", expect: { code: 'RUNTIME_ERROR', name: 'ReferenceError', message: /require/ } },
  { id: 'recon/std-os', class: 'recon', code: "return std.loadFile('/etc/passwd')", expect: { code: 'RUNTIME_ERROR', name: 'ReferenceError', message: /std/ } },
  { id: 'recon/eval-same-realm', class: 'recon', code: "return [eval('typeof process'), (0, eval)('typeof callTool'), new Function('return this')() === globalThis]", expect: { ok: true, value: ['undefined', 'function', true] } },
  { id: 'recon/function-ctor-realm', class: 'recon', code: "const F = (async function () {}).constructor; const G = (function* () {}).constructor; return [await F('return typeof require')(), G('yield typeof fetch')().next().value]", expect: { ok: true, value: ['undefined', 'undefined'] } },
  { id: 'recon/global-this-descriptors', class: 'recon', code: "return ['callTool', 'console', 'context', 'setTimeout', 'clearTimeout'].map((n) => { const d = Object.getOwnPropertyDescriptor(globalThis, n); return d.writable || d.configurable })", expect: { ok: true, value: [false, false, false, false, false] } },
  { id: 'recon/console-shape', class: 'recon', code: 'return [Object.keys(console).sort(), Object.isFrozen(console)]', expect: { ok: true, value: [['debug', 'dir', 'error', 'info', 'log', 'trace', 'warn'], true] } },
  { id: 'recon/console-is-one-locked-object', class: 'recon', code: "const first = console; console.log('x'); const d = Object.getOwnPropertyDescriptor(globalThis, 'console'); globalThis.console = 1; return [first === console, typeof d.set, Object.isFrozen(console), typeof console.log]", expect: { ok: true, value: [true, 'undefined', true, 'function'] } },
  { id: 'recon/console-frozen-despite-patched-freeze', class: 'recon', code: "let calls = 0; Object.freeze = (o) => { calls++; return o; }; return [Object.isFrozen(console), calls]", expect: { ok: true, value: [true, 0] } },
  { id: 'recon/date-and-random-work', class: 'recon', code: 'return [typeof Date.now(), typeof Math.random(), typeof new Date().toISOString()]', expect: { ok: true, value: ['number', 'number', 'string'] } },
];
