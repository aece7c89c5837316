import { afterAll, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import type { SandboxFailure } from '../../src/sandbox/types.js';
import { silentLogger } from '../../src/logger.js';
import { collect } from '../helpers/broker.js';
import { describeOnEachExecutor, run, spec } from './helpers.js';

// SPEC §5: for RUNTIME_ERROR, `message` is the thrown Error's message or the JSON text of any
// other thrown value, `name` the Error's name, and a string or number `code` goes to
// `details.code`. Before, `throw {code: 42}` gave "Error" and `throw "boom"` 'Error: Uncaught "boom"'.
const SHAPES: Array<[string, string, Partial<SandboxFailure> & { message: string }]> = [
  ['an object', 'throw { code: 42 }', { message: '{"code":42}', details: { code: 42 } }],
  ['an object with a string code', "throw { code: 'E_BUSY', retry: true }", { message: '{"code":"E_BUSY","retry":true}', details: { code: 'E_BUSY' } }],
  ['an array', 'throw [1, 2]', { message: '[1,2]' }],
  ['a string', "throw 'boom'", { message: 'boom' }],
  ['a string with a NUL', "throw 'a\\u0000b'", { message: 'a\u0000b' }],
  ['a number', 'throw 42', { message: '42' }],
  ['a boolean', 'throw false', { message: 'false' }],
  ['null', 'throw null', { message: 'null' }],
  ['undefined', 'throw undefined', { message: 'undefined' }],
  ['a BigInt', 'throw 10n', { message: '10' }],
  ['an Error', "throw new TypeError('bad')", { message: 'bad', name: 'TypeError' }],
  ['an Error with a code', "const e = new Error('busy'); e.code = 'E_BUSY'; throw e", { message: 'busy', name: 'Error', details: { code: 'E_BUSY' } }],
  [
    'an Error subclass',
    "class QuotaError extends Error { constructor(m) { super(m); this.name = 'QuotaError'; this.code = 429 } } throw new QuotaError('over quota')",
    { message: 'over quota', name: 'QuotaError', details: { code: 429 } },
  ],
  ['an Error with no message', 'throw new RangeError()', { message: 'RangeError', name: 'RangeError' }],
  ['an error-like object', "throw { message: 'plain', code: 7 }", { message: 'plain', details: { code: 7 } }],
  ['an object whose toJSON throws', "throw { toJSON() { throw new Error('no') } }", { message: 'a thrown object that JSON cannot represent (no)' }],
  ['a cycle', 'const a = {}; a.self = a; throw a', { message: 'a thrown object that JSON cannot represent (circular reference)' }],
  ['a function', 'throw () => 1', { message: 'a thrown function' }],
  ['a code that is neither string nor number', 'throw { code: { nested: 1 }, n: NaN }', { message: '{"code":{"nested":1},"n":null}' }],
  ['a rejected tool call', "await callTool('missing', {})", { message: 'no tool named "missing"', name: 'Error', details: { code: 'TOOL_NOT_FOUND' } }],
];

describeOnEachExecutor('what an uncaught throw carries', (executor) => {
  const missing = () => ({ ok: false as const, error: { code: 'TOOL_NOT_FOUND', message: 'no tool named "missing"' } });

  it.each(SHAPES)('%s', async (_label, code, expected) => {
    const outcome = await run(executor(), spec(code), missing).done;
    if (outcome.ok) throw new Error('expected a failure');
    expect(outcome.error.code).toBe('RUNTIME_ERROR');
    const { message, name, details } = outcome.error;
    expect({ message, name, details }).toEqual({ name: undefined, details: undefined, ...expected });
  });

  it('clips a huge thrown value', async () => {
    for (const code of ["throw 'x'.repeat(1e6)", "throw ['y'.repeat(1e6)]", "throw new Error('z'.repeat(1e6))", "throw { code: 'c'.repeat(1e6) }"]) {
      const outcome = await run(executor(), spec(code)).done;
      if (outcome.ok) throw new Error('expected a failure');
      expect(outcome.error.message.length).toBeLessThan(9000);
      expect(outcome.error.message).toMatch(/\.\.\. \[truncated\]$/);
      const detail = (outcome.error.details as { code?: string } | undefined)?.code;
      if (detail !== undefined) expect(detail.length).toBeLessThan(300);
    }
  });

  it('keeps what a getter that throws hides out of the error, and ends all the same', async () => {
    const outcome = await run(executor(), spec('throw { get message() { throw 1 }, get code() { throw 2 }, toJSON() { return { safe: true } } }')).done;
    if (outcome.ok) throw new Error('expected a failure');
    expect(outcome.error.code).toBe('RUNTIME_ERROR');
    expect(typeof outcome.error.message).toBe('string');
  });
});

describe('final.error carries the name and the code', () => {
  const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false });
  afterAll(() => broker.close());

  it('in the final event', async () => {
    const events = await collect(broker.execute("const e = new Error('busy'); e.name = 'BusyError'; e.code = 'E_BUSY'; throw e"));
    const final = events.at(-1)!;
    expect(final.type).toBe('final');
    if (final.type !== 'final') return;
    expect(final.payload.error).toMatchObject({ code: 'RUNTIME_ERROR', message: 'busy', name: 'BusyError', details: { code: 'E_BUSY' } });
    expect(final.payload.error?.stack).toContain('agent.js:1');
    const thrown = (await collect(broker.execute('throw { code: 42 }'))).at(-1)!;
    expect(thrown.type === 'final' && thrown.payload.error).toEqual({ code: 'RUNTIME_ERROR', message: '{"code":42}', details: { code: 42 } });
  });
});
