import type { HostileCase } from '../harness.js';

/** How the code is compiled: as the body of an async function, nothing else. */
export const compileCases: HostileCase[] = [
  { id: 'compile/syntax-error', class: 'compile', code: 'return (', expect: { code: 'SYNTAX_ERROR' } },
  { id: 'compile/lone-brace', class: 'compile', code: '}', expect: { code: 'SYNTAX_ERROR' } },
  { id: 'compile/unclosed-comment', class: 'compile', code: 'return 1 /*', expect: { code: 'SYNTAX_ERROR' } },
  { id: 'compile/trailing-line-comment', class: 'compile', code: 'return 1 // the end', expect: { ok: true, value: 1 } },
  { id: 'compile/top-level-await', class: 'compile', code: 'return await Promise.resolve(3)', expect: { ok: true, value: 3 } },
  { id: 'compile/use-strict', class: 'compile', code: "'use strict'; try { undeclared = 1 } catch (e) { return e.name }", expect: { ok: true, value: 'ReferenceError' } },
  { id: 'compile/await-in-plain-function', class: 'compile', code: 'function f() { await 1 } return 1', expect: { code: 'SYNTAX_ERROR' } },
  { id: 'compile/html-comment', class: 'compile', code: '<!-- html comment\nreturn 2', expect: { ok: true, value: 2 } },
  { id: 'compile/line-separators', class: 'compile', code: "return '\u2028\u2029'.length", expect: { ok: true, value: 2 } },
  { id: 'compile/deep-parens', class: 'compile', code: `return ${'('.repeat(100000)}1${')'.repeat(100000)}`, expect: { code: 'STACK_OVERFLOW' } },
  { id: 'compile/deep-array-literal', class: 'compile', code: `return ${'['.repeat(100000)}${']'.repeat(100000)}`, expect: { code: 'STACK_OVERFLOW' } },
  { id: 'compile/deep-blocks', class: 'compile', code: `${'{'.repeat(100000)}${'}'.repeat(100000)} return 1`, expect: { code: 'STACK_OVERFLOW' } },
  { id: 'compile/deep-eval', class: 'compile', code: `try { eval(${JSON.stringify('('.repeat(100000))}) } catch (e) { return e.name }`, expect: { code: 'STACK_OVERFLOW' } },
  { id: 'compile/many-statements', class: 'compile', code: 'let n = 0;\n' + 'n++;\n'.repeat(50000) + 'return n', expect: { ok: true, value: 50000 } },
  // Closing the wrapper function early runs the rest as a script in the same guest realm:
  // no new capability, and no value the host did not expect reaches it.
  { id: 'compile/wrapper-breakout', class: 'compile', code: 'return 1}); globalThis.pwned = 1; (async function(){', expect: { ok: true, noResult: true } },
  { id: 'compile/wrapper-breakout-non-function', class: 'compile', code: '} + (1) + function(){', expect: { code: 'RUNTIME_ERROR' } },
  { id: 'compile/wrapper-breakout-thenable', class: 'compile', code: '}, function () { return { then(ok) { ok(9) } } }, function(){', expect: { code: 'RUNTIME_ERROR' } },
];
