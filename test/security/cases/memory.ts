import type { HostileCase } from '../harness.js';

const M = { memoryLimitBytes: 16 * 1024 * 1024, timeoutMs: 3000 };
const oom = { code: 'MEMORY_LIMIT' } as const;

/** Allocation bombs: each must end with MEMORY_LIMIT (or a documented size error). */
export const memoryCases: HostileCase[] = [
  { id: 'memory/array-push', class: 'memory', code: 'const a = []; for (;;) a.push([1, 2, 3, 4])', limits: M, expect: oom },
  { id: 'memory/string-doubling', class: 'memory', code: "let s = 'x'; for (;;) s += s", limits: M, expect: oom },
  { id: 'memory/string-repeat', class: 'memory', code: "return 'x'.repeat(1e9).length", limits: M, expect: oom },
  { id: 'memory/object-keys', class: 'memory', code: "const o = {}; for (let i = 0; ; i++) o['k' + i] = i", limits: M, expect: oom },
  { id: 'memory/map-entries', class: 'memory', code: 'const m = new Map(); for (let i = 0; ; i++) m.set(i, { i })', limits: M, expect: oom },
  { id: 'memory/closures', class: 'memory', code: 'const fs = []; for (let i = 0; ; i++) fs.push(() => i)', limits: M, expect: oom },
  { id: 'memory/array-buffer', class: 'memory', code: 'return new ArrayBuffer(1e9).byteLength', limits: M, expect: oom },
  { id: 'memory/float64-array', class: 'memory', code: 'return new Float64Array(1e7).length', limits: M, expect: oom },
  { id: 'memory/typed-arrays-loop', class: 'memory', code: 'const k = []; for (;;) k.push(new Uint8Array(1 << 20))', limits: M, expect: oom },
  { id: 'memory/array-from-length', class: 'memory', code: 'return Array.from({ length: 1e7 }).length', limits: M, expect: oom },
  { id: 'memory/spread-keys', class: 'memory', code: 'return [...Array(1e7).keys()].length', limits: M, expect: oom },
  { id: 'memory/regex-match-all', class: 'memory', code: "return 'a'.repeat(4e6).match(/a/g).length", limits: M, expect: oom },
  { id: 'memory/split-chars', class: 'memory', code: "return 'ab'.repeat(3e6).split('').length", limits: M, expect: oom },
  {
    id: 'memory/json-stringify-huge',
    class: 'memory',
    limits: M,
    expect: oom,
    code: "const a = []; for (let i = 0; i < 1e6; i++) a.push({ key: 'value-' + i }); return JSON.stringify(a).length",
  },
  {
    id: 'memory/json-parse-huge',
    class: 'memory',
    limits: M,
    expect: oom,
    code: "const text = '[' + '{\"a\":[1,2,3]},'.repeat(1e6) + '0]'; return JSON.parse(text).length",
  },
  {
    // Half a million strings need more than 16 MiB: this one has the default 64 MiB.
    id: 'memory/result-over-size-limit',
    class: 'memory',
    limits: { ...M, memoryLimitBytes: 64 * 1024 * 1024 },
    expect: { code: 'RESULT_TOO_LARGE' },
    code: "const a = []; for (let i = 0; i < 5e5; i++) a.push('item number ' + i); return a",
  },
  { id: 'memory/array-1e9-length-only', class: 'memory', code: 'return Array(1e9).length', limits: M, expect: { ok: true, value: 1e9 } },
  {
    id: 'memory/uint8-2-pow-31',
    class: 'memory',
    code: 'return new Uint8Array(2 ** 31).length',
    limits: M,
    expect: { code: 'RUNTIME_ERROR', name: 'RangeError' },
  },
  {
    id: 'memory/bigint-huge',
    class: 'memory',
    code: 'return String(2n ** 10000000n).length',
    limits: M,
    expect: { code: 'RUNTIME_ERROR', message: /BigInt is too large/ },
  },
  {
    id: 'memory/apply-huge-args',
    class: 'memory',
    limits: M,
    code: 'return String.fromCharCode.apply(null, new Array(1e6).fill(65)).length',
    expect: { code: 'RUNTIME_ERROR', message: /too many arguments/ },
  },
  {
    // An allocation refused at the ceiling ends the session, even when the guest catches it.
    id: 'memory/oom-caught-then-return',
    class: 'memory',
    limits: M,
    code: 'let kept = []; try { for (;;) kept.push(new Array(1000).fill(0)) } catch (e) { kept = null; return String(e) }',
    expect: oom,
  },
  {
    id: 'memory/oom-caught-then-again',
    class: 'memory',
    limits: M,
    expect: oom,
    code: 'const k = []; try { for (;;) k.push(new Array(1000).fill(0)) } catch (e) {} for (;;) k.push([1])',
  },
  { id: 'memory/result-too-large', class: 'memory', code: "return 'x'.repeat(300 * 1024)", limits: M, expect: { code: 'RESULT_TOO_LARGE' } },
  { id: 'memory/result-just-fits', class: 'memory', code: "return 'x'.repeat(200 * 1024).length", limits: M, expect: { ok: true, value: 200 * 1024 } },
  {
    id: 'memory/result-too-large-multibyte',
    class: 'memory',
    limits: M,
    expect: { code: 'RESULT_TOO_LARGE' },
    code: "return '\\u20ac'.repeat(100 * 1024)",
  },
  {
    id: 'memory/fill-near-limit',
    class: 'memory',
    limits: { memoryLimitBytes: 32 * 1024 * 1024, timeoutMs: 1000 },
    code: 'const k = []; for (;;) k.push(new Array(1e5).fill(1))',
    expect: oom,
  },
];
