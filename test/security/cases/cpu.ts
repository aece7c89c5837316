import type { HostileCase } from '../harness.js';

const T = { timeoutMs: 300 };
const timeout = { code: 'TIMEOUT' } as const;

/** Code that never stops computing: every case must end with TIMEOUT (or a stack limit). */
export const cpuCases: HostileCase[] = [
  { id: 'cpu/for-ever', class: 'cpu', code: 'for (;;) {}', limits: T, expect: timeout },
  { id: 'cpu/while-true-catch', class: 'cpu', code: 'while (true) { try { throw 1 } catch (e) {} }', limits: T, expect: timeout },
  { id: 'cpu/catch-the-interrupt', class: 'cpu', code: 'for (;;) { try { for (;;) {} } catch (e) {} }', limits: T, expect: timeout },
  { id: 'cpu/loop-in-finally', class: 'cpu', code: 'try { for (;;) {} } finally { for (;;) {} }', limits: T, expect: timeout },
  { id: 'cpu/finally-after-return', class: 'cpu', code: 'try { return 1 } finally { for (;;) {} }', limits: T, expect: timeout },
  { id: 'cpu/recursion', class: 'cpu', code: 'function f() { return f() + 1 } return f()', limits: T, expect: { code: 'STACK_OVERFLOW' } },
  { id: 'cpu/mutual-recursion', class: 'cpu', code: 'function a(n) { return b(n + 1) } function b(n) { return a(n + 1) } return a(0)', limits: T, expect: { code: 'STACK_OVERFLOW' } },
  { id: 'cpu/recursion-catching-overflow', class: 'cpu', code: 'function f() { try { f() } catch (e) { f() } } f(); return 1', limits: T, expect: timeout },
  { id: 'cpu/async-recursion', class: 'cpu', code: 'async function f() { await f() } await f()', limits: T, expect: { code: 'STACK_OVERFLOW' } },
  { id: 'cpu/sort-callback', class: 'cpu', code: '[3, 1, 2].sort(() => { for (;;) {} })', limits: T, expect: timeout },
  { id: 'cpu/map-callback', class: 'cpu', code: '[1].map(() => { for (;;) {} })', limits: T, expect: timeout },
  { id: 'cpu/replace-callback', class: 'cpu', code: "'aaa'.replace(/a/g, () => { for (;;) {} })", limits: T, expect: timeout },
  { id: 'cpu/reduce-callback', class: 'cpu', code: '[1, 2].reduce(() => { for (;;) {} })', limits: T, expect: timeout },
  { id: 'cpu/array-from-callback', class: 'cpu', code: 'Array.from({ length: 3 }, () => { for (;;) {} })', limits: T, expect: timeout },
  { id: 'cpu/json-parse-reviver', class: 'cpu', code: "JSON.parse('[1]', () => { for (;;) {} })", limits: T, expect: timeout },
  { id: 'cpu/json-stringify-replacer', class: 'cpu', code: 'JSON.stringify({ a: 1 }, () => { for (;;) {} })', limits: T, expect: timeout },
  { id: 'cpu/proxy-trap', class: 'cpu', code: 'return new Proxy({}, { get() { for (;;) {} } }).x', limits: T, expect: timeout },
  { id: 'cpu/to-primitive', class: 'cpu', code: 'return +{ [Symbol.toPrimitive]() { for (;;) {} } }', limits: T, expect: timeout },
  { id: 'cpu/generator', class: 'cpu', code: 'for (const x of (function* () { for (;;) yield 1 })()) {}', limits: T, expect: timeout },
  { id: 'cpu/class-static-block', class: 'cpu', code: 'class A { static { for (;;) {} } }', limits: T, expect: timeout },
  { id: 'cpu/eval-loop', class: 'cpu', code: "eval('for (;;) {}')", limits: T, expect: timeout },
  { id: 'cpu/function-ctor-loop', class: 'cpu', code: "new Function('for (;;) {}')()", limits: T, expect: timeout },
  { id: 'cpu/after-await', class: 'cpu', code: 'await null; for (;;) {}', limits: T, expect: timeout },
  { id: 'cpu/in-timer', class: 'cpu', code: 'await new Promise((r) => setTimeout(() => { for (;;) {} }, 1))', limits: T, expect: timeout },
  {
    id: 'cpu/after-tool-result', class: 'cpu', code: "await callTool('echo', {}); for (;;) {}",
    tools: { echo: (a) => a }, limits: T, expect: timeout,
  },
  { id: 'cpu/result-getter', class: 'cpu', code: 'return { get a() { for (;;) {} } }', limits: T, expect: timeout },
  { id: 'cpu/result-tojson', class: 'cpu', code: 'return { toJSON() { for (;;) {} } }', limits: T, expect: timeout },
  { id: 'cpu/error-name-getter', class: 'cpu', code: 'const e = new Error("x"); Object.defineProperty(e, "name", { get() { for (;;) {} } }); throw e', limits: T, expect: timeout },
  { id: 'cpu/console-tostring', class: 'cpu', code: "console.log('' + { toString() { for (;;) {} } })", limits: T, expect: timeout },
  { id: 'cpu/settimeout-valueof', class: 'cpu', code: 'setTimeout(() => {}, { valueOf() { for (;;) {} } })', limits: T, expect: timeout },
  { id: 'cpu/regex-backtracking', class: 'cpu', code: "return /(a+)+$/.test('a'.repeat(40) + 'b')", limits: T, expect: timeout },
  { id: 'cpu/regex-nested-quantifiers', class: 'cpu', code: "return /(x+x+)+y/.test('x'.repeat(60))", limits: T, expect: timeout },
  { id: 'cpu/regex-alternation', class: 'cpu', code: "return /^(a|a)*$/.test('a'.repeat(60) + '!')", limits: T, expect: timeout },
  { id: 'cpu/regex-in-replace', class: 'cpu', code: "return ('a'.repeat(40) + 'b').replace(/(a*)*$/, 'x')", limits: T, expect: timeout },
  {
    id: 'cpu/sparse-join', class: 'cpu', needsPool: true,
    code: "return new Array(2 ** 31).join('').length", limits: T, expect: { anyOf: ['TIMEOUT', 'MEMORY_LIMIT'] },
  },
  {
    id: 'cpu/sparse-fill', class: 'cpu', needsPool: true,
    code: 'new Array(1e9).fill(1)', limits: T, expect: { anyOf: ['TIMEOUT', 'MEMORY_LIMIT'] },
  },
];
