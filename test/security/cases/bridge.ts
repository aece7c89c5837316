import type { CaseRun, HostileCase } from '../harness.js';

const echo = {
  echo: (a: unknown) => a,
  fail: () => {
    throw new Error('tool failed');
  },
};

/**
 * Walks everything reachable from the guest's globals (own properties, accessors, prototypes)
 * and reports native functions that are not standard built-ins: the host's bridge functions
 * are named call/out/timer/done. Also reports any object holding the bridge's four names.
 */
const WALK = String.raw`
  const seen = new Set(); const queue = [globalThis]; const found = [];
  let caught; try { await callTool('fail', {}) } catch (e) { caught = e }
  queue.push(caught, callTool, console, context, setTimeout, clearTimeout, Promise.resolve());
  while (queue.length) {
    const v = queue.pop();
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) continue;
    seen.add(v);
    if (typeof v === 'function') {
      const src = Function.prototype.toString.call(v);
      if (/native code/.test(src) && ['call', 'out', 'timer', 'done'].includes(v.name) && v !== Function.prototype.call) found.push('native ' + v.name);
    }
    const keys = Reflect.ownKeys(v);
    if (['call', 'out', 'timer', 'done'].every((k) => keys.includes(k))) found.push('bridge object');
    if (['install', 'start', 'settle', 'fire'].some((k) => keys.includes(k) && typeof v[k] === 'function' && v !== globalThis)) found.push('guest runtime api');
    queue.push(Object.getPrototypeOf(v));
    for (const k of keys) {
      const d = Object.getOwnPropertyDescriptor(v, k);
      if (!d) continue;
      if ('value' in d) queue.push(d.value);
      if (d.get) queue.push(d.get);
      if (d.set) queue.push(d.set);
    }
  }
  return { found, walked: seen.size > 300 };
`;

function noHostPaths(run: CaseRun): void {
  // The guest may see its own runtime's frames (enclave:guest) in its errors; the host's
  // error report must not show them, and nothing may show a host path.
  const text = JSON.stringify(run.outcome) + JSON.stringify(run.value ?? null) + run.stdout;
  if (/node_modules|\/work\/|file:\/\/|wasm-function|sandbox\.ts/.test(text)) throw new Error(`host detail leaked: ${text.slice(0, 300)}`);
  if (!run.outcome.ok && /enclave:guest/.test(JSON.stringify(run.outcome.error))) throw new Error('runtime frames in the error report');
}

/** Everything reachable from callTool, console, context, setTimeout and tool errors. */
export const bridgeCases: HostileCase[] = [
  { id: 'bridge/walk-reachable-graph', class: 'bridge', tools: echo, code: WALK, expect: { ok: true, value: { found: [], walked: true } } },
  {
    id: 'bridge/calltool-constructor',
    class: 'bridge',
    code: "return callTool.constructor('return this')() === globalThis && callTool.constructor === Function",
    expect: { ok: true, value: true },
  },
  {
    id: 'bridge/calltool-caller',
    class: 'bridge',
    code: "const out = []; for (const f of [callTool, setTimeout, clearTimeout, console.log]) { for (const k of ['caller', 'arguments']) { try { out.push(typeof f[k]) } catch (e) { out.push(e.name) } } } return out.every((x) => x === 'TypeError' || x === 'undefined')",
    expect: { ok: true, value: true },
  },
  {
    id: 'bridge/callee-caller-of-main',
    class: 'bridge',
    code: 'try { return typeof arguments.callee.caller } catch (e) { return e.name }',
    expect: { ok: true, value: 'TypeError' },
  },
  {
    id: 'bridge/caller-from-timer',
    class: 'bridge',
    expect: { ok: true, value: 'TypeError' },
    code: 'return await new Promise((r) => setTimeout(function () { try { r(typeof arguments.callee.caller.caller) } catch (e) { r(e.name) } }, 0))',
  },
  {
    id: 'bridge/caller-from-tool-continuation',
    class: 'bridge',
    tools: echo,
    expect: { ok: true, value: 'TypeError' },
    code: "return await callTool('echo', {}).then(function () { try { return typeof arguments.callee.caller.caller } catch (e) { return e.name } })",
  },
  {
    id: 'bridge/tool-error-shape',
    class: 'bridge',
    tools: echo,
    check: noHostPaths,
    expect: { ok: true, value: [true, true, 'TOOL_ERROR', 'tool failed', true, false] },
    code: "try { await callTool('fail', {}) } catch (e) { return [e instanceof Error, Object.getPrototypeOf(e) === Error.prototype, e.code, e.message, e.constructor === Error, /node_modules|wasm/.test(String(e.stack))] }",
  },
  {
    id: 'bridge/tool-not-found',
    class: 'bridge',
    expect: { ok: true, value: 'TOOL_NOT_FOUND' },
    code: "try { await callTool('does-not-exist', {}) } catch (e) { return e.code }",
  },
  {
    id: 'bridge/uncaught-error-no-host-frames',
    class: 'bridge',
    code: "function inner() { throw new Error('deep') } inner()",
    expect: { code: 'RUNTIME_ERROR', message: /deep/ },
    check: noHostPaths,
  },
  { id: 'bridge/stack-of-guest-error', class: 'bridge', code: 'try { null.x } catch (e) { return e.stack }', expect: { ok: true }, check: noHostPaths },
  {
    id: 'bridge/non-string-name',
    class: 'bridge',
    code: 'const out = []; for (const n of [1, null, {}, Symbol("s"), () => 1]) { try { await callTool(n, {}) } catch (e) { out.push(e.name) } } return out',
    expect: { ok: true, value: ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError'] },
    check: (r) => {
      if (r.toolCalls.length) throw new Error('host saw a call');
    },
  },
  {
    id: 'bridge/name-with-throwing-tostring',
    class: 'bridge',
    code: "try { await callTool({ toString() { throw new Error('x') } }, {}) } catch (e) { return e.name }",
    expect: { ok: true, value: 'TypeError' },
  },
  {
    id: 'bridge/huge-name',
    class: 'bridge',
    code: "try { await callTool('t'.repeat(1 << 20), {}) } catch (e) { return e.name }",
    expect: { ok: true, value: 'RangeError' },
    check: (r) => {
      if (r.toolCalls.length) throw new Error('host saw a huge name');
    },
  },
  {
    id: 'bridge/args-tojson-throws',
    class: 'bridge',
    code: "try { await callTool('echo', { toJSON() { throw new Error('x') } }) } catch (e) { return e.name }",
    tools: echo,
    expect: { ok: true, value: 'TypeError' },
  },
  {
    id: 'bridge/args-non-objects',
    class: 'bridge',
    tools: echo,
    code: "const out = []; for (const a of [1, 'x', true, 1n, Symbol('s')]) { try { await callTool('echo', a) } catch (e) { out.push(e.name) } } return out",
    expect: { ok: true, value: ['TypeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError'] },
  },
  {
    id: 'bridge/args-null-undefined',
    class: 'bridge',
    tools: echo,
    code: "return [await callTool('echo', null), await callTool('echo')]",
    expect: { ok: true, value: [{}, {}] },
  },
  {
    id: 'bridge/recursion-through-calltool',
    class: 'bridge',
    tools: { next: (a) => ({ n: ((a as { n: number }).n ?? 0) + 1 }) },
    code: "async function go(n) { const r = await callTool('next', { n }); return r.n >= 50 ? r.n : go(r.n) } return await go(0)",
    expect: { ok: true, value: 50 },
  },
  {
    id: 'bridge/parallel-calls',
    class: 'bridge',
    tools: echo,
    code: "const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => callTool('echo', { i }))); return rs.reduce((s, r) => s + r.i, 0)",
    expect: { ok: true, value: 19900 },
    check: (r) => {
      if (r.toolCalls.length !== 200) throw new Error('calls lost');
    },
  },
  {
    id: 'bridge/sync-answers',
    class: 'bridge',
    tools: echo,
    syncTools: true,
    code: "await new Promise((r) => setTimeout(r, 0)); const a = await callTool('echo', { a: 1 }); const b = await Promise.all([callTool('echo', { b: 2 }), callTool('nope', {}).catch((e) => e.code)]); return [a, b]",
    expect: { ok: true, value: [{ a: 1 }, [{ b: 2 }, 'TOOL_NOT_FOUND']] },
  },
  {
    id: 'bridge/globals-not-writable',
    class: 'bridge',
    tools: echo,
    code: "callTool = null; console = null; setTimeout = null; context = 1; delete globalThis.callTool; return [typeof callTool, typeof console.log, typeof setTimeout, typeof context, await callTool('echo', { ok: 1 })]",
    expect: { ok: true, value: ['function', 'function', 'function', 'object', { ok: 1 }] },
  },
  // QuickJS lets defineProperty replace a non-configurable global's value (an engine quirk):
  // the guest only breaks its own callTool, and the next session has the real one again.
  {
    id: 'bridge/redefine-global',
    class: 'bridge',
    tools: echo,
    code: "try { Object.defineProperty(globalThis, 'callTool', { value: 1 }) } catch (e) {} return 1",
    expect: { ok: true, value: 1 },
    next: { code: "return [typeof callTool, await callTool('echo', { a: 1 })]", expect: { ok: true, value: ['function', { a: 1 }] } },
  },
  { id: 'bridge/patch-promise-then', class: 'bridge', code: 'Promise.prototype.then = function () {}; return 5', expect: { ok: true, value: 5 } },
  {
    id: 'bridge/patch-promise-constructor',
    class: 'bridge',
    tools: echo,
    code: "Promise.prototype.constructor = function (ex) { ex(() => {}, () => {}) }; globalThis.Promise = function () { throw 1 }; return await callTool('echo', { v: 1 })",
    expect: { ok: true, value: { v: 1 } },
  },
  {
    id: 'bridge/patch-json',
    class: 'bridge',
    tools: echo,
    code: "JSON.stringify = () => '\"evil\"'; JSON.parse = () => 'evil'; return { got: await callTool('echo', { a: 1 }) }",
    expect: { ok: true, value: { got: { a: 1 } } },
  },
  {
    id: 'bridge/patch-map',
    class: 'bridge',
    tools: echo,
    code: "Map.prototype.get = () => undefined; Map.prototype.set = () => { throw 1 }; Map.prototype.delete = () => false; return await callTool('echo', { a: 2 })",
    expect: { ok: true, value: { a: 2 } },
  },
  {
    id: 'bridge/patch-function-call',
    class: 'bridge',
    tools: echo,
    code: "Function.prototype.call = () => { throw 1 }; Function.prototype.apply = () => { throw 2 }; Function.prototype.bind = () => { throw 3 }; return [await callTool('echo', { a: 3 }), await new Promise((r) => setTimeout(r, 0, 'timer'))]",
    expect: { ok: true, value: [{ a: 3 }, 'timer'] },
  },
  {
    id: 'bridge/patch-error',
    class: 'bridge',
    code: "globalThis.Error = function () { return { code: 'forged' } }; try { await callTool('x', {}) } catch (e) { return [e.code, e instanceof TypeError] }",
    expect: { ok: true, value: ['TOOL_NOT_FOUND', false] },
  },
  { id: 'bridge/throw-string', class: 'bridge', code: "throw 'plain string'", expect: { code: 'RUNTIME_ERROR', message: /plain string/ } },
  { id: 'bridge/throw-null', class: 'bridge', code: 'throw null', expect: { code: 'RUNTIME_ERROR', message: /null/ } },
  {
    id: 'bridge/throw-hostile-object',
    class: 'bridge',
    code: 'throw { get name() { throw 1 }, get message() { throw 2 } }',
    expect: { code: 'RUNTIME_ERROR' },
  },
  { id: 'bridge/throw-proxy', class: 'bridge', code: "throw new Proxy({}, { get() { throw new Error('trap') } })", expect: { code: 'RUNTIME_ERROR' } },
  {
    id: 'bridge/throw-huge-message',
    class: 'bridge',
    code: "throw new Error('m'.repeat(3e6))",
    expect: { code: 'RUNTIME_ERROR' },
    check: (r) => {
      if (!r.outcome.ok && r.outcome.error.message.length > 10000) throw new Error(`message of ${r.outcome.error.message.length} chars`);
    },
  },
  {
    id: 'bridge/throw-huge-stack',
    class: 'bridge',
    code: "const e = new Error('s'); e.stack = 'at x\\n'.repeat(1e6); throw e",
    expect: { code: 'RUNTIME_ERROR' },
    check: (r) => {
      if (!r.outcome.ok && (r.outcome.error.stack ?? '').length > 20000) throw new Error('stack not clipped');
    },
  },
  {
    id: 'bridge/throw-huge-name',
    class: 'bridge',
    code: "const e = new Error('n'); e.name = 'N'.repeat(1e6); throw e",
    expect: { code: 'RUNTIME_ERROR' },
    check: (r) => {
      if (!r.outcome.ok && r.outcome.error.message.length > 10000) throw new Error('name not clipped');
    },
  },
  {
    id: 'bridge/uncaught-huge-in-timer',
    class: 'bridge',
    expect: { code: 'RUNTIME_ERROR' },
    code: "await new Promise(() => setTimeout(() => { throw new Error('t'.repeat(3e6)) }, 0))",
    check: (r) => {
      if (!r.outcome.ok && r.outcome.error.message.length > 10000) throw new Error('message not clipped');
    },
  },
  {
    id: 'bridge/fake-internal-error',
    class: 'bridge',
    code: "const e = new Error('interrupted'); e.name = 'InternalError'; throw e",
    expect: { code: 'RUNTIME_ERROR', message: /interrupted/ },
  },
  {
    id: 'bridge/settimeout-hostile-delay',
    class: 'bridge',
    code: "try { setTimeout(() => {}, { valueOf() { throw new Error('v') } }) } catch (e) { return e.message }",
    expect: { ok: true, value: 'v' },
  },
  {
    id: 'bridge/console-methods-this',
    class: 'bridge',
    code: "const { log } = console; log.call(null, 'a'); log.apply({}, ['b']); Reflect.apply(console.error, 1, ['c']); return 1",
    expect: { ok: true, value: 1 },
    check: (r) => {
      if (r.stdout !== 'a\nb\n') throw new Error(r.stdout);
    },
  },
  // The globals are engine functions backed by the host: their source shows only `[native code]`.
  {
    id: 'bridge/function-sources-reveal-nothing',
    class: 'bridge',
    code: 'return [callTool, setTimeout, clearTimeout, console.log].every((f) => { const s = Function.prototype.toString.call(f); return /\\[native code\\]/.test(s) && !/ctx|=>|this\\.|listener/.test(s) })',
    expect: { ok: true, value: true },
  },
];
