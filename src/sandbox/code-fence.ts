/**
 * A markdown code fence around the whole code, as language models often write it:
 *
 *     ```js
 *     const x = await callTool('a', {}); return x
 *     ```
 *
 * The code's first non-blank line must be an opening fence (three or more backticks, then an
 * optional info string of letters, digits, `_`, `+`, `-`, `.`, such as `js`, `javascript`,
 * `ts`), and its last non-blank line a closing fence of as many backticks or more. Only such a
 * fence is removed, never one inside the code. The text it wraps cannot be meant as
 * JavaScript with the fence: it would parse, at best, as a template literal used as a tag, a
 * `TypeError` when run.
 */
const OPENING = /^[ \t]*(`{3,})[ \t]*[\w+.-]*[ \t]*\r?\n/;
const CLOSING = /\r?\n[ \t]*(`{3,})[ \t]*$/;

/**
 * The code without a fence that wraps all of it, or the code unchanged. The opening fence's
 * line (and any blank lines before it) become empty lines, so line numbers in errors and
 * stacks still point into the code as it was sent.
 */
export function stripCodeFence(code: string): string {
  // Cheap refusal first: almost no code starts with a backtick.
  const start = firstNonBlank(code);
  if (code.charCodeAt(start) !== 96 /* ` */) return code;
  const trimmedEnd = code.trimEnd();
  if (!trimmedEnd.endsWith('```')) return code;
  const open = OPENING.exec(code.slice(start));
  if (!open) return code;
  const bodyStart = start + open[0].length;
  const close = CLOSING.exec(trimmedEnd);
  if (!close || close.index < bodyStart - 1 || close[1]!.length < open[1]!.length) return code;
  const lines = code.slice(0, bodyStart).split('\n').length - 1;
  return '\n'.repeat(lines) + trimmedEnd.slice(bodyStart, Math.max(bodyStart, close.index));
}

function firstNonBlank(text: string): number {
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
    i++;
  }
  return i;
}
