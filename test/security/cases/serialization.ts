import { RawJson, type CaseRun, type HostileCase } from '../harness.js';

const invalid = { code: 'INVALID_RESULT' } as const;

/** The tool arguments the host received are plain JSON data with an ordinary prototype. */
function plainArgs(run: CaseRun): void {
  for (const call of run.toolCalls) {
    if (Object.getPrototypeOf(call.args) !== Object.prototype) throw new Error('args are not a plain object');
    if (JSON.stringify(JSON.parse(call.argsJson)) !== call.argsJson) throw new Error('args are not canonical JSON');
  }
}

const echo = { echo: (a: unknown) => a };

/** Values crossing the boundary: only plain JSON reaches the host, both ways. */
export const serializationCases: HostileCase[] = [
  { id: 'ser/getter', class: 'serialization', code: 'return { get a() { return 1 } }', expect: { ok: true, value: { a: 1 } } },
  { id: 'ser/getter-throws', class: 'serialization', code: "return { get a() { throw new Error('nope') } }", expect: invalid },
  { id: 'ser/tojson', class: 'serialization', code: "return { toJSON() { return 'replaced' } }", expect: { ok: true, value: 'replaced' } },
  { id: 'ser/tojson-throws', class: 'serialization', code: "return { toJSON() { throw new Error('x') } }", expect: invalid },
  { id: 'ser/tojson-returns-function', class: 'serialization', code: 'return { toJSON() { return () => 1 } }', expect: invalid },
  {
    id: 'ser/proxy',
    class: 'serialization',
    code: "return new Proxy({}, { ownKeys: () => ['a'], getOwnPropertyDescriptor: () => ({ value: 1, enumerable: true, configurable: true }), get: () => 2 })",
    expect: { ok: true, value: { a: 2 } },
  },
  { id: 'ser/proxy-throws', class: 'serialization', code: "return new Proxy({}, { ownKeys() { throw new Error('trap') } })", expect: invalid },
  {
    id: 'ser/revoked-proxy',
    class: 'serialization',
    code: 'const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy',
    expect: { code: 'RUNTIME_ERROR', message: /revoked proxy/ },
  },
  { id: 'ser/cyclic', class: 'serialization', code: 'const a = {}; a.a = a; return a', expect: invalid },
  { id: 'ser/deep-array', class: 'serialization', code: 'let o = []; for (let i = 0; i < 100000; i++) o = [o]; return o', expect: { code: 'STACK_OVERFLOW' } },
  {
    id: 'ser/deep-object',
    class: 'serialization',
    code: 'let o = {}; for (let i = 0; i < 100000; i++) o = { o }; return o',
    expect: { code: 'STACK_OVERFLOW' },
  },
  {
    id: 'ser/deep-stringify-in-guest',
    class: 'serialization',
    code: 'let o = []; for (let i = 0; i < 100000; i++) o = [o]; try { JSON.stringify(o) } catch (e) { return e.name }',
    expect: { ok: true, value: 'InternalError' },
  },
  {
    id: 'ser/deep-parse-in-guest',
    class: 'serialization',
    code: "try { JSON.parse('['.repeat(100000)) } catch (e) { return e.name }",
    expect: { ok: true, value: 'SyntaxError' },
  },
  {
    id: 'ser/deep-join-in-guest',
    class: 'serialization',
    code: 'let o = []; for (let i = 0; i < 100000; i++) o = [o]; try { String(o) } catch (e) { return e.name }',
    expect: { ok: true, value: 'InternalError' },
  },
  {
    id: 'ser/deep-flat-in-guest',
    class: 'serialization',
    code: 'let o = []; for (let i = 0; i < 100000; i++) o = [o]; try { o.flat(Infinity) } catch (e) { return e.name }',
    expect: { ok: true, value: 'InternalError' },
  },
  { id: 'ser/bigint', class: 'serialization', code: 'return 1n', expect: invalid },
  { id: 'ser/bigint-nested', class: 'serialization', code: 'return { a: [1n] }', expect: invalid },
  { id: 'ser/symbol', class: 'serialization', code: "return Symbol('s')", expect: invalid },
  { id: 'ser/function', class: 'serialization', code: 'return () => 1', expect: invalid },
  { id: 'ser/undefined', class: 'serialization', code: 'return undefined', expect: { ok: true, noResult: true } },
  { id: 'ser/nan-and-infinity', class: 'serialization', code: 'return [NaN, Infinity, -0]', expect: { ok: true, value: [null, null, 0] } },
  {
    id: 'ser/symbol-keys-dropped',
    class: 'serialization',
    code: "return { [Symbol('k')]: 1, a: undefined, b: () => 1, c: 2 }",
    expect: { ok: true, value: { c: 2 } },
  },
  {
    id: 'ser/date-map-typed',
    class: 'serialization',
    code: 'return [new Date(0), new Map([[1, 2]]), new Uint8Array([5])]',
    expect: { ok: true, value: ['1970-01-01T00:00:00.000Z', {}, { 0: 5 }] },
  },
  { id: 'ser/error-object', class: 'serialization', code: "return new Error('e')", expect: { ok: true, value: {} } },
  { id: 'ser/lone-surrogate', class: 'serialization', code: "return '\\ud800'", expect: { ok: true, value: '\ud800' } },
  { id: 'ser/tojson-inflates', class: 'serialization', code: "return { toJSON() { return 'x'.repeat(1 << 20) } }", expect: { code: 'RESULT_TOO_LARGE' } },
  {
    id: 'ser/result-proto-key',
    class: 'serialization',
    expect: { ok: true },
    code: 'return JSON.parse(\'{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 2}}}\')',
    check: (r) => {
      const v = r.value as Record<string, unknown>;
      if (!Object.hasOwn(v, '__proto__')) throw new Error('__proto__ was not kept as data');
      if (Object.getPrototypeOf(v) !== Object.prototype) throw new Error('the result prototype changed');
    },
  },
  {
    id: 'ser/result-proto-assigned',
    class: 'serialization',
    code: 'const o = {}; o.__proto__ = { polluted: 1 }; return o',
    expect: { ok: true, value: {} },
  },
  {
    id: 'ser/args-proto-key',
    class: 'serialization',
    tools: echo,
    expect: { ok: true },
    check: plainArgs,
    code: 'return await callTool(\'echo\', JSON.parse(\'{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}, "prototype": 1}\'))',
  },
  {
    id: 'ser/args-getters-and-tojson',
    class: 'serialization',
    tools: echo,
    check: plainArgs,
    code: "return await callTool('echo', { get a() { return 1 }, b: { toJSON() { return 'B' } }, c: undefined, d: () => 1 })",
    expect: { ok: true, value: { a: 1, b: 'B' } },
  },
  {
    id: 'ser/args-proxy',
    class: 'serialization',
    tools: echo,
    check: plainArgs,
    expect: { ok: true, value: { k: 'v' } },
    code: "return await callTool('echo', new Proxy({}, { ownKeys: () => ['k'], getOwnPropertyDescriptor: () => ({ value: 'v', enumerable: true, configurable: true }), get: () => 'v' }))",
  },
  {
    id: 'ser/args-class-instance',
    class: 'serialization',
    tools: echo,
    check: plainArgs,
    expect: { ok: true, value: { x: 1 } },
    code: "class P { constructor() { this.x = 1 } method() {} } return await callTool('echo', new P())",
  },
  {
    id: 'ser/args-cyclic',
    class: 'serialization',
    tools: echo,
    code: "const a = {}; a.a = a; try { await callTool('echo', a) } catch (e) { return e.name }",
    expect: { ok: true, value: 'TypeError' },
    check: (r) => {
      if (r.toolCalls.length) throw new Error('the host saw the call');
    },
  },
  {
    id: 'ser/args-bigint',
    class: 'serialization',
    tools: echo,
    code: "try { await callTool('echo', { n: 1n }) } catch (e) { return e.name }",
    expect: { ok: true, value: 'TypeError' },
  },
  {
    id: 'ser/args-array',
    class: 'serialization',
    tools: echo,
    code: "try { await callTool('echo', [1]) } catch (e) { return e.message }",
    expect: { ok: true, value: 'callTool: args must be an object' },
  },
  {
    id: 'ser/args-deep',
    class: 'serialization',
    tools: echo,
    code: "let o = {}; for (let i = 0; i < 100000; i++) o = { o }; try { await callTool('echo', o) } catch (e) { return e.name }",
    expect: { ok: true, value: 'TypeError' },
  },
  {
    id: 'ser/args-too-large',
    class: 'serialization',
    tools: echo,
    expect: { ok: true, value: 'RangeError' },
    code: "try { await callTool('echo', { a: 'x'.repeat(300 * 1024) }) } catch (e) { return e.name }",
    check: (r) => {
      if (r.toolCalls.length) throw new Error('the host saw oversized arguments');
    },
  },
  {
    id: 'ser/tool-result-proto-key',
    class: 'serialization',
    expect: { ok: true, value: [true, 'undefined', 1] },
    tools: { evil: () => new RawJson('{"__proto__": {"polluted": 1}, "constructor": {"prototype": {"polluted": 1}}}') },
    code: "const r = await callTool('evil', {}); return [Object.prototype.hasOwnProperty.call(r, '__proto__'), typeof ({}).polluted, r.__proto__.polluted]",
  },
  {
    id: 'ser/context-proto-key',
    class: 'serialization',
    expect: { ok: true, value: [true, 'undefined', true] },
    context: JSON.parse('{"__proto__": {"polluted": 1}, "a": {"b": 1}}'),
    code: "return [Object.prototype.hasOwnProperty.call(context, '__proto__'), typeof ({}).polluted, Object.isFrozen(context.a)]",
  },
  {
    id: 'ser/context-frozen',
    class: 'serialization',
    context: { a: { b: [1] } },
    expect: { ok: true, value: ['TypeError', 'TypeError', 1] },
    code: "'use strict'; const out = []; try { context.a.b.push(2) } catch (e) { out.push(e.name) } try { context.x = 1 } catch (e) { out.push(e.name) } out.push(context.a.b.length); return out",
  },
];
