import type { HostileCase } from '../harness.js';

const x = 'cross-session' as const;

/** State one session leaves behind must be invisible to the next one on the same executor. */
export const crossSessionCases: HostileCase[] = [
  {
    id: 'cross/global-var',
    class: x,
    code: 'globalThis.leak = 42; var leak2 = 1; return 1',
    expect: { ok: true, value: 1 },
    next: { code: 'return [typeof leak, typeof leak2]', expect: { ok: true, value: ['undefined', 'undefined'] } },
  },
  {
    id: 'cross/object-prototype',
    class: x,
    code: 'Object.prototype.polluted = 1; return 1',
    expect: { ok: true },
    next: { code: 'return typeof ({}).polluted', expect: { ok: true, value: 'undefined' } },
  },
  {
    id: 'cross/array-prototype',
    class: x,
    code: 'Array.prototype.map = () => "evil"; return 1',
    expect: { ok: true },
    next: { code: 'return [1].map((v) => v + 1)', expect: { ok: true, value: [2] } },
  },
  {
    id: 'cross/json',
    class: x,
    code: 'JSON.stringify = () => "evil"; JSON.parse = () => 1; return 1',
    expect: { ok: true },
    next: { code: 'return JSON.stringify(JSON.parse(\'{"a":1}\'))', expect: { ok: true, value: '{"a":1}' } },
  },
  {
    id: 'cross/promise-then',
    class: x,
    code: 'Promise.prototype.then = function () {}; return 1',
    expect: { ok: true },
    next: { code: 'return await Promise.resolve(7)', expect: { ok: true, value: 7 } },
  },
  {
    id: 'cross/math-random',
    class: x,
    code: 'Math.random = () => 0.5; return 1',
    expect: { ok: true },
    next: { code: 'return Math.random === Math.random && Math.random() !== Math.random()', expect: { ok: true, value: true } },
  },
  {
    id: 'cross/function-tostring',
    class: x,
    code: 'Function.prototype.toString = () => "evil"; return 1',
    expect: { ok: true },
    next: { code: 'return String(function f() {}).startsWith("function f")', expect: { ok: true, value: true } },
  },
  {
    id: 'cross/error-prototype',
    class: x,
    code: 'Error.prototype.toString = () => "evil"; Error.prototype.name = "Evil"; return 1',
    expect: { ok: true },
    next: { code: "throw new Error('boom')", expect: { code: 'RUNTIME_ERROR', name: 'Error', message: /^boom$/ } },
  },
  {
    id: 'cross/global-prototype',
    class: x,
    code: 'Object.setPrototypeOf(globalThis, { evil: 1 }); return 1',
    expect: { ok: true },
    next: { code: 'return typeof evil', expect: { ok: true, value: 'undefined' } },
  },
  {
    id: 'cross/symbol-registry',
    class: x,
    code: "Symbol.for('shared').description; globalThis[Symbol.for('shared')] = 1; return 1",
    expect: { ok: true },
    next: { code: "return typeof globalThis[Symbol.for('shared')]", expect: { ok: true, value: 'undefined' } },
  },
  {
    id: 'cross/context',
    class: x,
    context: { secret: 's1' },
    code: 'return context.secret',
    expect: { ok: true, value: 's1' },
    next: { code: 'return [typeof context.secret, JSON.stringify(context)]', expect: { ok: true, value: ['undefined', '{}'] } },
  },
  {
    id: 'cross/timer-from-previous',
    class: x,
    code: 'setTimeout(() => { globalThis.late = 1 }, 20); return 1',
    expect: { ok: true },
    next: { code: 'await new Promise((r) => setTimeout(r, 60)); return typeof late', expect: { ok: true, value: 'undefined' } },
  },
  {
    id: 'cross/pending-tool-from-previous',
    class: x,
    code: "callTool('slow', {}).then(() => { globalThis.late = 1 }); return 1",
    expect: { ok: true },
    next: { code: 'await new Promise((r) => setTimeout(r, 30)); return typeof late', expect: { ok: true, value: 'undefined' } },
  },
  {
    id: 'cross/after-oom',
    class: x,
    code: "let s = 'x'; for (;;) s += s",
    limits: { memoryLimitBytes: 16 * 1024 * 1024 },
    expect: { code: 'MEMORY_LIMIT' },
    next: { code: "return 'x'.repeat(1e6).length", expect: { ok: true, value: 1e6 } },
  },
  {
    id: 'cross/after-timeout',
    class: x,
    code: 'globalThis.x = 1; for (;;) {}',
    limits: { timeoutMs: 200 },
    expect: { code: 'TIMEOUT' },
    next: { code: 'return typeof x', expect: { ok: true, value: 'undefined' } },
  },
  {
    id: 'cross/after-stack-overflow',
    class: x,
    code: 'let o = []; for (let i = 0; i < 100000; i++) o = [o]; return o',
    expect: { code: 'STACK_OVERFLOW' },
    next: { code: 'function f(n) { return n ? f(n - 1) + 1 : 0 } return f(200)', expect: { ok: true, value: 200 } },
  },
  {
    id: 'cross/after-stdout-limit',
    class: x,
    code: "for (;;) console.log('x')",
    expect: { code: 'STDOUT_LIMIT' },
    next: {
      code: "console.log('fresh'); return 1",
      expect: { ok: true, value: 1 },
      check: (r) => {
        if (r.stdout !== 'fresh\n') throw new Error(r.stdout);
      },
    },
  },
];
