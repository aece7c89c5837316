import type { CaseRun, HostileCase } from '../harness.js';

// CORPUS_LIMITS.maxStdoutBytes is 64 KiB.
const limit = { code: 'STDOUT_LIMIT' } as const;

function outputWithin(max: number) {
  return (run: CaseRun): void => {
    const bytes = new TextEncoder().encode(run.stdout + run.logs.map((l) => l.message).join('')).length;
    if (bytes > max) throw new Error(`the host received ${bytes} bytes of output`);
  };
}

/** Console floods: output stops at maxStdoutBytes, and the host never receives more. */
export const ioCases: HostileCase[] = [
  { id: 'io/one-huge-line', class: 'io', code: "console.log('x'.repeat(1 << 20))", expect: limit, check: outputWithin(64 * 1024) },
  { id: 'io/many-small-lines', class: 'io', code: "for (;;) console.log('spam')", expect: limit, check: outputWithin(64 * 1024) },
  { id: 'io/error-flood', class: 'io', code: "for (;;) console.error('bad')", expect: limit, check: outputWithin(64 * 1024) },
  { id: 'io/warn-flood', class: 'io', code: "for (;;) console.warn({ a: 'b' })", expect: limit, check: outputWithin(64 * 1024) },
  {
    id: 'io/mixed-levels-flood',
    class: 'io',
    code: "for (let i = 0; ; i++) console[['log', 'info', 'debug', 'error'][i % 4]]('line', i)",
    expect: limit,
    check: outputWithin(64 * 1024),
  },
  { id: 'io/flood-then-catch', class: 'io', code: "try { for (;;) console.log('x'.repeat(1000)) } catch (e) {} return 'survived'", expect: limit },
  { id: 'io/flood-in-timer', class: 'io', code: "await new Promise(() => setTimeout(() => { for (;;) console.log('t') }, 0))", expect: limit },
  { id: 'io/multibyte-counted-as-bytes', class: 'io', code: "console.log('\\u20ac'.repeat(30000))", expect: limit, check: outputWithin(64 * 1024) },
  {
    id: 'io/just-under-limit',
    class: 'io',
    code: "console.log('x'.repeat(60000)); return 1",
    expect: { ok: true, value: 1 },
    check: (r) => {
      if (r.stdout.length !== 60001) throw new Error('stdout lost');
    },
  },
  {
    id: 'io/huge-array-abbreviated',
    class: 'io',
    code: 'console.log(new Array(1e6).fill(7)); return 1',
    expect: { ok: true, value: 1 },
    check: (r) => {
      if (!r.stdout.includes('... 999900 more items')) throw new Error(r.stdout.slice(0, 200));
    },
  },
  {
    id: 'io/deep-object-abbreviated',
    class: 'io',
    expect: { ok: true },
    code: 'let o = {}; for (let i = 0; i < 10000; i++) o = { o }; console.log(o)',
    check: (r) => {
      if (!r.stdout.includes('[Object]')) throw new Error(r.stdout);
    },
  },
  {
    id: 'io/cyclic',
    class: 'io',
    expect: { ok: true },
    code: 'const a = { n: 1 }; a.self = a; console.log(a)',
    check: (r) => {
      if (r.stdout !== '{ n: 1, self: [Circular] }\n') throw new Error(r.stdout);
    },
  },
  {
    id: 'io/throwing-tostring',
    class: 'io',
    expect: { ok: true, value: 1 },
    code: "console.log('%s', { toString() { throw new Error('no') } }); console.log(String({ toString() { return 'fine' } })); return 1",
  },
  {
    id: 'io/hostile-proxy',
    class: 'io',
    expect: { ok: true, value: 1 },
    code: "const p = new Proxy({}, { get() { throw new Error('trap') }, ownKeys() { throw new Error('trap') }, getPrototypeOf() { throw new Error('trap') } }); console.log(p); console.error('x', p); return 1",
    check: (r) => {
      if (!r.stdout.includes('unprintable')) throw new Error(r.stdout);
    },
  },
  {
    id: 'io/patched-replace',
    class: 'io',
    expect: { ok: true, value: 2 },
    code: "String.prototype.replace = function (re, cb) { cb('%s'); return { toString() { throw new Error('boom') } } }; console.log('%s', 1); return 2",
    check: (r) => {
      if (r.stdout !== '[unprintable]\n') throw new Error(JSON.stringify(r.stdout));
    },
  },
  {
    id: 'io/console-replaced',
    class: 'io',
    expect: { ok: true, value: false },
    code: "console.log = () => { throw 1 }; console.log('still'); return Object.isFrozen(console) === false",
    check: (r) => {
      if (r.stdout !== 'still\n') throw new Error(r.stdout);
    },
  },
  { id: 'io/lone-surrogates', class: 'io', expect: { ok: true }, code: "console.log('\\ud800 \\udfff'); console.error('\\udc00')" },
  {
    id: 'io/symbols-bigints-functions',
    class: 'io',
    expect: { ok: true },
    code: "console.log(Symbol('s'), 10n, function named() {}, class K {}, [undefined, null], new Map([[1, 2]]), new Set([1]), new Date(0), /re/g, -0)",
    check: (r) => {
      if (!r.stdout.startsWith('Symbol(s) 10n [Function: named] [class K]')) throw new Error(r.stdout);
    },
  },
];
