import { NEVER, type CaseRun, type HostileCase } from '../harness.js';

const T = { timeoutMs: 300 };
const timeout = { code: 'TIMEOUT' } as const;

function noStdout(run: CaseRun): void {
  if (run.stdout !== '') throw new Error(`unexpected stdout ${JSON.stringify(run.stdout.slice(0, 80))}`);
}

/** Promises, microtasks and timers: nothing may outlive the session or stall the host. */
export const asyncCases: HostileCase[] = [
  { id: 'async/never-settles', class: 'async', code: 'await new Promise(() => {})', limits: T, expect: timeout },
  { id: 'async/microtask-flood', class: 'async', code: 'for (;;) await null', limits: T, expect: timeout },
  // Each promise of the chain holds the next: the memory limit or the deadline, whichever comes first.
  {
    id: 'async/then-flood',
    class: 'async',
    code: 'function loop() { return Promise.resolve().then(loop) } await loop()',
    limits: T,
    expect: { anyOf: ['TIMEOUT', 'MEMORY_LIMIT'] },
  },
  { id: 'async/thenable-loop', class: 'async', code: 'await { then() { for (;;) {} } }', limits: T, expect: timeout },
  { id: 'async/timer-chain', class: 'async', code: 'function t() { setTimeout(t, 0) } t(); await new Promise(() => {})', limits: T, expect: timeout },
  {
    id: 'async/tool-never-answered',
    class: 'async',
    code: "return await callTool('hang', {})",
    tools: { hang: () => NEVER },
    limits: T,
    expect: timeout,
  },
  {
    // A hundred thousand promises need more than the corpus's 32 MiB: the default 64 MiB.
    id: 'async/promise-chain-in-loop',
    class: 'async',
    expect: { ok: true, value: 100000 },
    limits: { memoryLimitBytes: 64 * 1024 * 1024 },
    code: 'let p = Promise.resolve(0); for (let i = 0; i < 1e5; i++) p = p.then((n) => n + 1); return await p',
  },
  {
    id: 'async/promise-chain-bomb',
    class: 'async',
    expect: { code: 'MEMORY_LIMIT' },
    limits: { memoryLimitBytes: 16 * 1024 * 1024, timeoutMs: 3000 },
    code: 'let p = Promise.resolve(); for (;;) p = p.then(() => {})',
  },
  {
    id: 'async/promise-all-many',
    class: 'async',
    expect: { ok: true, value: 50000 },
    limits: { memoryLimitBytes: 64 * 1024 * 1024 },
    code: 'return (await Promise.all(Array.from({ length: 50000 }, (_, i) => Promise.resolve(i)))).length',
  },
  { id: 'async/unhandled-rejection', class: 'async', code: "Promise.reject(new Error('ignored')); return 1", expect: { ok: true, value: 1 } },
  {
    // Leftover jobs run until the deadline interrupts them; the result stands.
    id: 'async/flood-after-return',
    class: 'async',
    quietMs: 50,
    limits: T,
    expect: { ok: true, value: 1 },
    code: '(async () => { for (;;) await null })(); return 1',
  },
  {
    id: 'async/output-after-return',
    class: 'async',
    quietMs: 50,
    expect: { ok: true, value: 1 },
    check: noStdout,
    code: "(async () => { for (let i = 0; i < 20; i++) await null; console.log('late') })(); return 1",
  },
  {
    id: 'async/timer-after-return',
    class: 'async',
    quietMs: 80,
    expect: { ok: true, value: 1 },
    check: noStdout,
    code: "setTimeout(() => console.log('late timer'), 10); return 1",
  },
  {
    id: 'async/interval-like-after-return',
    class: 'async',
    quietMs: 80,
    expect: { ok: true, value: 1 },
    check: noStdout,
    code: "function tick() { console.log('tick'); setTimeout(tick, 1) } setTimeout(tick, 5); return 1",
  },
  {
    id: 'async/throw-in-timer-after-return',
    class: 'async',
    quietMs: 60,
    expect: { ok: true, value: 1 },
    code: "setTimeout(() => { throw new Error('late') }, 5); return 1",
  },
  {
    id: 'async/throw-in-timer-before-end',
    class: 'async',
    expect: { code: 'RUNTIME_ERROR', message: /in timer/ },
    code: "setTimeout(() => { throw new Error('in timer') }, 0); await new Promise((r) => setTimeout(r, 30)); return 1",
  },
  {
    id: 'async/too-many-timers',
    class: 'async',
    expect: { code: 'RUNTIME_ERROR', message: /too many pending timers/ },
    code: 'for (let i = 0; i < 20000; i++) setTimeout(() => {}, 1e6)',
  },
  {
    id: 'async/timer-cap-bypass-via-map',
    class: 'async',
    expect: { code: 'RUNTIME_ERROR', message: /too many pending timers/ },
    code: "Object.defineProperty(Map.prototype, 'size', { get() { return 0 } }); for (let i = 0; i < 20000; i++) setTimeout(() => {}, 1e6)",
  },
  {
    id: 'async/timers-cleared-reuse',
    class: 'async',
    expect: { ok: true, value: 30000 },
    code: 'let n = 0; for (let i = 0; i < 30000; i++) { clearTimeout(setTimeout(() => {}, 1e6)); n++ } return n',
  },
  {
    id: 'async/odd-delays',
    class: 'async',
    expect: { ok: true, value: 5 },
    code: "let n = 0; const inc = () => n++; for (const d of [NaN, -1, Infinity, '5', null]) setTimeout(inc, d); await new Promise((r) => setTimeout(r, 20)); return n",
  },
  {
    id: 'async/huge-delay-outlives-deadline',
    class: 'async',
    expect: timeout,
    limits: T,
    code: 'await new Promise((r) => setTimeout(r, 1e9))',
  },
  {
    id: 'async/clear-odd-ids',
    class: 'async',
    expect: { ok: true, value: 'ok' },
    code: "clearTimeout({}); clearTimeout(-1); clearTimeout('1'); clearTimeout(); return 'ok'",
  },
  {
    id: 'async/string-callback',
    class: 'async',
    expect: { code: 'RUNTIME_ERROR', message: /callback must be a function/ },
    code: "setTimeout('globalThis.x = 1', 0)",
  },
  {
    id: 'async/timer-args-with-patched-apply',
    class: 'async',
    expect: { ok: true, value: 3 },
    code: 'Function.prototype.apply = () => { throw 1 }; Array.prototype.push = () => { throw 2 }; return await new Promise((r) => setTimeout((a, b) => r(a + b), 0, 1, 2))',
  },
  {
    id: 'async/no-finalization-registry',
    class: 'async',
    expect: { ok: true, value: 'undefined undefined' },
    code: 'return typeof FinalizationRegistry + " " + typeof WeakRef',
  },
  {
    id: 'async/gc-pressure-after-return',
    class: 'async',
    quietMs: 60,
    expect: { ok: true, value: 1 },
    check: noStdout,
    code: "const m = new WeakMap(); for (let i = 0; i < 1000; i++) m.set({}, { toString() { console.log('x') } }); return 1",
  },
];
