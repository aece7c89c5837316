import { describe, expect, it } from 'vitest';
import { prepareAgentCode, WRAPPER_HEAD, WRAPPER_TAIL } from '../../src/sandbox/agent-code.js';
import { stripCodeFence } from '../../src/sandbox/code-fence.js';

/** The function body QuickJS gets for `code` (the wrapper taken off). */
function bodyOf(code: string): string {
  const prepared = prepareAgentCode(code);
  if (!prepared.ok) throw new Error(`expected ok, got ${prepared.failure.code}: ${prepared.failure.message}`);
  expect(prepared.source.startsWith(WRAPPER_HEAD) && prepared.source.endsWith(WRAPPER_TAIL)).toBe(true);
  return prepared.source.slice(WRAPPER_HEAD.length, -WRAPPER_TAIL.length);
}

function failureOf(code: string) {
  const prepared = prepareAgentCode(code);
  if (prepared.ok) throw new Error(`expected a failure, got ${prepared.source}`);
  return prepared.failure;
}

describe('the wrapper cannot be closed from inside', () => {
  it.each([
    '}); console.log(1); (async () => {',
    '} /* a */); console.log(1); (async () => { /* b */',
    "}); console.log('})'); (async () => {",
    '}, console.log(1)); (async () => {',
    '})(); console.log(1); (async () => {',
    '} + console.log(1) + function () {',
    'return 1 }); console.log(1); (async function () {',
  ])('refuses %j as a SYNTAX_ERROR', (code) => {
    const failure = failureOf(code);
    expect(failure.code).toBe('SYNTAX_ERROR');
    expect(failure.name).toBe('SyntaxError');
    expect(failure.message).toMatch(/^SyntaxError: .*may not close it$/);
  });

  it('refuses code that closes the wrapper and comments out the rest', () => {
    expect(failureOf('}); console.log(1); //').code).toBe('SYNTAX_ERROR');
    expect(failureOf('}); console.log(1); /*').code).toBe('SYNTAX_ERROR');
  });

  it('points at the brace that would close the wrapper', () => {
    const failure = failureOf('const a = 1;\n  return a }); console.log(1); (async () => {');
    expect(failure.message).toContain('(line 2, column 12)');
    expect(failure.stack).toBe('    at agent.js:2:12');
  });

  it('gives the line and column of an ordinary syntax error in the code as sent', () => {
    const failure = failureOf('const x = 1;\nfoo bar');
    expect(failure).toMatchObject({ code: 'SYNTAX_ERROR', name: 'SyntaxError', stack: '    at agent.js:2:5' });
    expect(failure.message).toBe('SyntaxError: Unexpected token (line 2, column 5)');
    expect(failureOf('return (').message).toMatch(/^SyntaxError: Unexpected token \(line 1, column 9\)$/);
  });

  it('leaves braces in strings, templates, regexps and comments alone', () => {
    const code = "const s = '})'; const r = /}\\)/; const t = `})${'}'}`; /* }) */ return s + r.source + t // })";
    expect(bodyOf(code)).toBe(code);
  });

  it('reports nesting deeper than the host stack as STACK_OVERFLOW', () => {
    expect(failureOf(`return ${'('.repeat(100000)}1${')'.repeat(100000)}`).code).toBe('STACK_OVERFLOW');
  });

  it('accepts what only a function body may hold', () => {
    expect(bodyOf('return arguments.length')).toBe('return arguments.length');
    expect(bodyOf('return new.target')).toBe('return new.target');
    expect(bodyOf("'use strict'; return 1")).toBe("'use strict'; return 1");
  });
});

describe('a final expression is returned', () => {
  it('returns the last expression of a body with no return', () => {
    expect(bodyOf("const x = await callTool('a', {}); x.length")).toBe("const x = await callTool('a', {}); return (x.length)");
    expect(bodyOf('1 + 2')).toBe('return (1 + 2)');
    expect(bodyOf('a, b;')).toBe('return (a, b);');
    expect(bodyOf('({ a: 1 })')).toBe('return (({ a: 1 }))');
    expect(bodyOf('(a) /* c */ ;')).toBe('return ((a) /* c */ );');
    expect(bodyOf('const o = { a: 1 };\n// done\no // the answer\n')).toBe('const o = { a: 1 };\n// done\nreturn (o) // the answer\n');
  });

  it('returns the expression after a function declaration', () => {
    expect(bodyOf('function f() { return 2 }\nf()')).toBe('function f() { return 2 }\nreturn (f())');
    expect(bodyOf('const g = () => { return 3 }; g()')).toBe('const g = () => { return 3 }; return (g())');
  });

  it('changes nothing in code that returns, anywhere outside nested functions', () => {
    for (const code of ['return 1', 'if (x) return 1; y', 'for (;;) { if (a) { return 1 } } b', 'try { return 1 } finally { c }', 'x: { return 1 }\nz']) {
      expect(bodyOf(code)).toBe(code);
    }
  });

  it('changes nothing when the last statement is not an expression', () => {
    for (const code of ['{ a: 1 }', 'const x = 1;', 'if (a) b', 'function f() {}', 'x; function f() {}', "'use strict'", '"just a directive"', '']) {
      expect(bodyOf(code)).toBe(code);
    }
  });

  it('is not fooled by the word return in strings, names or comments', () => {
    expect(bodyOf("const returned = 'return'; // return\nreturned")).toBe("const returned = 'return'; // return\nreturn (returned)");
  });
});

describe('markdown fences', () => {
  it.each([
    ['```js\nreturn 1\n```', '\nreturn 1'],
    ['```javascript\nreturn 1\n```\n', '\nreturn 1'],
    ['```ts\nreturn 1\n```', '\nreturn 1'],
    ['```\nreturn 1\n```', '\nreturn 1'],
    ['\n\n  ```js\r\nreturn 1\r\n```  \n', '\n\n\nreturn 1'],
    ['````js\nconst s = "```"\n````', '\nconst s = "```"'],
    ['```js\n```', '\n'],
  ])('strips the fence of %j', (code, stripped) => {
    expect(stripCodeFence(code)).toBe(stripped);
  });

  it.each(['return 1', '```js return 1```', '```js\nreturn 1', 'return `a`\n```', 'const a = 1\n```js\nreturn a\n```', '````js\nreturn 1\n```'])(
    'leaves %j as it is',
    (code) => {
      expect(stripCodeFence(code)).toBe(code);
    },
  );

  it('keeps line numbers of the code as sent', () => {
    expect(failureOf('```js\nconst x = 1;\nfoo bar\n```').stack).toBe('    at agent.js:3:5');
  });

  it('strips the fence, then returns the final expression', () => {
    expect(bodyOf("```js\nconst x = await callTool('a', {}); x.length\n```")).toBe("\nconst x = await callTool('a', {}); return (x.length)");
  });
});

describe('the sources of recent short scripts are remembered', () => {
  it('answers the same source for the same code, past the cache size too', () => {
    const codes = Array.from({ length: 300 }, (_, i) => `const x = ${i}; x * 2`);
    const first = codes.map((c) => bodyOf(c));
    expect(codes.map((c) => bodyOf(c))).toEqual(first);
    expect(first[7]).toBe('const x = 7; return (x * 2)');
  });

  it('never remembers a failure as a success', () => {
    const code = '}); console.log(1); (async () => {';
    expect(failureOf(code).code).toBe('SYNTAX_ERROR');
    expect(failureOf(code).code).toBe('SYNTAX_ERROR');
  });
});
