import { expect, it } from 'vitest';
import { describeOnEachExecutor, run, spec } from './helpers.js';

/** Code as a language model writes it, run on each executor. */
describeOnEachExecutor('the shape of the code', (executor) => {
  const users = () => ({ ok: true as const, resultJson: JSON.stringify(['ada', 'bob', 'cy']) });

  it('returns the final expression of a body with no return', async () => {
    const r = run(executor(), spec("const x = await callTool('users', {}); x.length"), users);
    expect(await r.done).toEqual({ ok: true, resultJson: '3' });
    expect(r.seen.filter((e) => e.k === 'call')).toHaveLength(1);
  });

  it('runs code wrapped in a markdown fence', async () => {
    for (const fence of ['```js', '```javascript', '```ts', '```']) {
      const r = run(executor(), spec(`${fence}\nconst x = await callTool('users', {});\nreturn x[0]\n\`\`\`\n`), users);
      expect(await r.done).toEqual({ ok: true, resultJson: '"ada"' });
    }
    const both = run(executor(), spec("```js\nconst x = await callTool('users', {});\nx.join('+')\n```"), users);
    expect(await both.done).toEqual({ ok: true, resultJson: '"ada+bob+cy"' });
  });

  it('awaits a final expression that is a promise, as return does', async () => {
    const r = run(executor(), spec("callTool('users', {})"), users);
    expect(await r.done).toEqual({ ok: true, resultJson: '["ada","bob","cy"]' });
  });

  it('returns the expression after a function declaration', async () => {
    expect(await run(executor(), spec('function twice(n) { return n * 2 }\ntwice(21)')).done).toEqual({ ok: true, resultJson: '42' });
  });

  it('leaves code that returns as it was', async () => {
    expect(await run(executor(), spec('if (context.early) return "early"; "late"', {}, { early: true })).done).toEqual({ ok: true, resultJson: '"early"' });
    // A return anywhere outside nested functions: the final expression is not returned.
    expect(await run(executor(), spec('if (context.early) return "early"; "late"', {}, { early: false })).done).toEqual({ ok: true });
    expect(await run(executor(), spec('const f = () => { return 1 }; f() + 1')).done).toEqual({ ok: true, resultJson: '2' });
  });

  it('does not read a block as an object literal', async () => {
    expect(await run(executor(), spec('{ a: 1 }')).done).toEqual({ ok: true });
    expect(await run(executor(), spec('({ a: 1 })')).done).toEqual({ ok: true, resultJson: '{"a":1}' });
  });

  it('refuses code that closes its function early, running none of it', async () => {
    const r = run(executor(), spec("}); console.log('pwned'); callTool('pwned', {}); (async () => {"), users);
    const outcome = await r.done;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error).toMatchObject({ code: 'SYNTAX_ERROR', name: 'SyntaxError' });
    expect(r.seen).toEqual([]);
  });

  it('still reports what only QuickJS refuses as its own SYNTAX_ERROR', async () => {
    // A \`using\` declaration parses on the host; this engine build does not know it.
    const outcome = await run(executor(), spec('using x = null; return 1')).done;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error).toMatchObject({ code: 'SYNTAX_ERROR', message: "SyntaxError: expecting ';'" });
  });
});
