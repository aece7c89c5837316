import type { CaseRun, HostileCase } from '../harness.js';

/** How the code is compiled: as the body of an async function, nothing else. */
export const compileCases: HostileCase[] = [
  { id: 'compile/syntax-error', class: 'compile', code: 'return (', expect: { code: 'SYNTAX_ERROR' } },
  { id: 'compile/lone-brace', class: 'compile', code: '}', expect: { code: 'SYNTAX_ERROR' } },
  { id: 'compile/unclosed-comment', class: 'compile', code: 'return 1 /*', expect: { code: 'SYNTAX_ERROR' } },
  { id: 'compile/trailing-line-comment', class: 'compile', code: 'return 1 // the end', expect: { ok: true, value: 1 } },
  { id: 'compile/top-level-await', class: 'compile', code: 'return await Promise.resolve(3)', expect: { ok: true, value: 3 } },
  {
    id: 'compile/use-strict',
    class: 'compile',
    code: "'use strict'; try { undeclared = 1 } catch (e) { return e.name }",
    expect: { ok: true, value: 'ReferenceError' },
  },
  { id: 'compile/await-in-plain-function', class: 'compile', code: 'function f() { await 1 } return 1', expect: { code: 'SYNTAX_ERROR' } },
  { id: 'compile/html-comment', class: 'compile', code: '<!-- html comment\nreturn 2', expect: { ok: true, value: 2 } },
  { id: 'compile/line-separators', class: 'compile', code: "return '\u2028\u2029'.length", expect: { ok: true, value: 2 } },
  { id: 'compile/deep-parens', class: 'compile', code: `return ${'('.repeat(100000)}1${')'.repeat(100000)}`, expect: { code: 'STACK_OVERFLOW' } },
  { id: 'compile/deep-array-literal', class: 'compile', code: `return ${'['.repeat(100000)}${']'.repeat(100000)}`, expect: { code: 'STACK_OVERFLOW' } },
  { id: 'compile/deep-blocks', class: 'compile', code: `${'{'.repeat(100000)}${'}'.repeat(100000)} return 1`, expect: { code: 'STACK_OVERFLOW' } },
  {
    id: 'compile/deep-eval',
    class: 'compile',
    code: `try { eval(${JSON.stringify('('.repeat(100000))}) } catch (e) { return e.name }`,
    expect: { code: 'STACK_OVERFLOW' },
  },
  { id: 'compile/many-statements', class: 'compile', code: `let n = 0;\n${'n++;\n'.repeat(50000)}return n`, expect: { ok: true, value: 50000 } },
  // Closing the wrapper function early would run the rest as a script of its own: the code is
  // parsed on the host first, and nothing of it runs.
  ...breakouts(),
  {
    id: 'compile/braces-in-literals',
    class: 'compile',
    code: "const s = '})'; const r = /}\\)/; const t = `})${'}'}`; /* }) */ return s + r.source + t // })",
    expect: { ok: true, value: '})}\\)})}' },
  },
];

/**
 * Code that closes the wrapper early, in the shapes an attacker tries: each injected part
 * would log and call a tool. Each must end SYNTAX_ERROR with nothing of it run.
 */
function breakouts(): HostileCase[] {
  const X = "console.log('pwned'); console.error('pwned'); callTool('pwned', {})";
  const shapes: Record<string, string> = {
    arrow: `}); ${X}; (async () => {`,
    function: `}); ${X}; (async function () {`,
    'line-comment': `}); ${X}; //`,
    'block-comments': `} /* a */ ); ${X}; (async () => { /* b */`,
    'open-block-comment': `}); ${X}; /*`,
    regex: `}); ${X}; /}/.test('}'); (async () => {`,
    template: `}); ${X}; \`\${'}'}\`; (async () => {`,
    string: `}); ${X}; '})'; (async () => {`,
    'argument-list': `}, ${X.replace(/; /g, ', ')}); (async () => {`,
    'with-return': `return 1}); ${X}; (async function(){`,
    'non-function': `} + (${X.replace(/; /g, ', ')}) + function(){`,
    thenable: `}, function () { ${X}; return { then(ok) { ok(9) } } }(), function(){`,
    invoked: `})(); ${X}; (async () => {`,
    'line-separator': `}\u2028); ${X}; (async () => {`,
    'html-comment': `});\n${X};\n(async () => {\n-->`,
    'after-class': `class A { m() {} } }); ${X}; (async () => {`,
    'double-brace': `}}); ${X}; (async () => {{`,
  };
  return Object.entries(shapes).map(([name, code]) => ({
    id: `compile/wrapper-breakout-${name}`,
    class: 'compile',
    code,
    tools: { pwned: () => 'pwned' },
    expect: { code: 'SYNTAX_ERROR' },
    check: nothingRan,
  }));
}

function nothingRan(run: CaseRun): void {
  if (run.stdout !== '' || run.logs.length > 0 || run.toolCalls.length > 0) {
    throw new Error(`the injected code ran: ${JSON.stringify({ stdout: run.stdout, logs: run.logs, calls: run.toolCalls })}`);
  }
}
