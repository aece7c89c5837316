import { parse, type Node, type Program, type Statement } from 'acorn';
import { stripCodeFence } from './code-fence.js';
import type { SandboxFailure } from './types.js';

/**
 * The agent's code is the body of an async function. It is parsed on the host (acorn, which
 * needs no `eval` and runs on Workers) before QuickJS sees it, for two reasons:
 *
 * - **Containment.** Code such as `}); X; (async () => {` would close the wrapper early and
 *   run `X` as a script of its own. The code is parsed inside the very wrapper QuickJS
 *   compiles, and the wrapper's function must span the whole code: one statement, one
 *   function, whose body starts at the wrapper's `{` and ends at its `}`. Anything else is a
 *   `SYNTAX_ERROR`, and nothing of the code runs.
 * - **Code a language model wrote** (see docs/protocol.md, "The code"): a markdown fence
 *   around the whole code is removed (code-fence.ts), and a body whose last top-level
 *   statement is an expression, with no `return` statement anywhere outside nested functions,
 *   returns that expression's value.
 *
 * Code the parser accepts but QuickJS does not (a syntax newer than the engine) still ends as
 * QuickJS's own `SYNTAX_ERROR`.
 */
export const WRAPPER_HEAD = '(async function () {';
export const WRAPPER_TAIL = '\n})';

/** File name of the agent's code in QuickJS stacks (and in the positions given here). */
export const AGENT_FILE = 'agent.js';

export type PreparedCode = { ok: true; source: string } | { ok: false; failure: SandboxFailure };

/** Longest code whose prepared source is remembered, and how many are (see `prepareAgentCode`). */
const CACHED_CODE_CHARS = 4096;
const CACHE_ENTRIES = 128;
const recent = new Map<string, string>();

/**
 * The wrapped source QuickJS compiles for `code`, or the failure the code ends with. The
 * sources of the last few short scripts that parsed are remembered: the same script sent
 * again (a retry, a loop of requests) is not parsed again.
 */
export function prepareAgentCode(code: string): PreparedCode {
  if (code.length > CACHED_CODE_CHARS) return prepare(code);
  const known = recent.get(code);
  if (known !== undefined) {
    // Most recently used last: the first entry is the one to drop.
    recent.delete(code);
    recent.set(code, known);
    return { ok: true, source: known };
  }
  const prepared = prepare(code);
  if (prepared.ok) {
    if (recent.size >= CACHE_ENTRIES) recent.delete(recent.keys().next().value!);
    recent.set(code, prepared.source);
  }
  return prepared;
}

function prepare(code: string): PreparedCode {
  const body = stripCodeFence(code);
  const source = WRAPPER_HEAD + body + WRAPPER_TAIL;
  let program: Program;
  try {
    program = parse(source, { ecmaVersion: 'latest', sourceType: 'script' });
  } catch (err) {
    return { ok: false, failure: parseFailure(err, body) };
  }
  const fn = wrapperFunction(program);
  if (!fn || fn.body.end !== source.length - WRAPPER_TAIL.length + 2) return { ok: false, failure: breakout(body) };
  const last = fn.body.body[fn.body.body.length - 1];
  if (last?.type !== 'ExpressionStatement' || 'directive' in last) return { ok: true, source };
  if (body.includes('return') && hasOwnReturn(fn.body.body)) return { ok: true, source };
  // The statement's own range holds the expression's parentheses (the expression's does not);
  // its semicolon stays outside.
  const { start } = last;
  const end = source.charCodeAt(last.end - 1) === 59 /* ; */ ? last.end - 1 : last.end;
  return { ok: true, source: `${source.slice(0, start)}return (${source.slice(start, end)})${source.slice(end)}` };
}

interface FunctionNode extends Node {
  async: boolean;
  params: Node[];
  body: Node & { body: Statement[] };
}

/** The async function expression the wrapper is, when the program is that and nothing else. */
function wrapperFunction(program: Program): FunctionNode | undefined {
  if (program.body.length !== 1) return undefined;
  const statement = program.body[0]!;
  if (statement.type !== 'ExpressionStatement') return undefined;
  const fn = statement.expression as unknown as FunctionNode;
  if (fn.type !== 'FunctionExpression' || !fn.async || fn.params.length !== 0) return undefined;
  if (fn.start !== 1 || fn.body.start !== WRAPPER_HEAD.length - 1) return undefined;
  return fn;
}

/**
 * The failure of code that parses inside the wrapper only by closing it early. Parsed again
 * on its own (as a script that may `return` and `await`), it fails where it closes the
 * function: that position is the one given.
 */
function breakout(body: string): SandboxFailure {
  try {
    parse(body, { ecmaVersion: 'latest', sourceType: 'script', allowReturnOutsideFunction: true, allowAwaitOutsideFunction: true });
  } catch (err) {
    if (err instanceof SyntaxError) {
      const failure = parseFailure(err, body, 0);
      failure.message += ': the code is the body of an async function and may not close it';
      return failure;
    }
  }
  return syntaxError('the code may not close the async function it runs in', 0, body);
}

const FUNCTIONS: ReadonlySet<string> = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);

/** Whether a `return` statement belongs to the function these statements are the body of. */
function hasOwnReturn(statements: readonly Node[]): boolean {
  const stack: unknown[] = [...statements];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const node = value as Node & Record<string, unknown>;
    if (typeof node.type !== 'string') continue;
    if (node.type === 'ReturnStatement') return true;
    if (FUNCTIONS.has(node.type)) continue;
    for (const key in node) {
      if (key === 'type' || key === 'start' || key === 'end' || key === 'loc' || key === 'range') continue;
      const child = node[key];
      if (child !== null && typeof child === 'object') stack.push(child);
    }
  }
  return false;
}

/** The failure a parse error ends with, its position given in the agent's code. */
function parseFailure(err: unknown, body: string, shift = WRAPPER_HEAD.length): SandboxFailure {
  // Nesting deeper than the host's stack (acorn reports it as a SyntaxError of its own): as
  // QuickJS reports its own parser's overflow.
  if (err instanceof RangeError || (err instanceof SyntaxError && err.message.startsWith('Not enough stack space'))) {
    return { code: 'STACK_OVERFLOW', message: 'maximum call stack size exceeded' };
  }
  // Anything else is a fault of the parser: the code does not run (it could not be checked).
  if (!(err instanceof SyntaxError)) return { code: 'INTERNAL_ERROR', message: 'the code could not be parsed' };
  const pos = (err as SyntaxError & { pos?: unknown }).pos;
  const message = err.message.replace(/ \(\d+:\d+\)$/, '');
  return syntaxError(message, typeof pos === 'number' ? pos - shift : 0, body);
}

/** A SYNTAX_ERROR at `offset` in `body` (clamped into it), with a QuickJS-like stack frame. */
function syntaxError(message: string, offset: number, body: string): SandboxFailure {
  const at = Math.max(0, Math.min(offset, body.length));
  let line = 1;
  let lineStart = 0;
  for (let i = body.indexOf('\n'); i !== -1 && i < at; i = body.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  const column = at - lineStart + 1;
  return {
    code: 'SYNTAX_ERROR',
    message: `SyntaxError: ${message} (line ${line}, column ${column})`,
    name: 'SyntaxError',
    stack: `    at ${AGENT_FILE}:${line}:${column}`,
  };
}
