import type { SandboxFailure } from './types.js';

/** What the guest told about an error it threw (or what the host read off it, thrown-value.ts). */
export interface GuestErrorInfo {
  /** The Error's `name`; absent when the value thrown was not an Error (or had no string name). */
  name?: string;
  /** The Error's message, or the text of any other thrown value. */
  message: string;
  stack?: string;
  /** A string or number `code` property of the thrown value. */
  code?: string | number;
}

/** Longest error message (and, times two, stack) passed on to the host's events. */
export const MAX_ERROR_TEXT = 8192;

/** Clips guest-controlled text so an error cannot smuggle megabytes past the output limits. */
export function clipText(text: string, max = MAX_ERROR_TEXT): string {
  return text.length > max ? `${text.slice(0, max)}... [truncated]` : text;
}

/**
 * Maps an error the guest ended with to a SPEC §5 code. A RUNTIME_ERROR's `message` is the
 * Error's message (its name when the message is empty) or the text of any other thrown value;
 * `name` is the Error's name and `details.code` the thrown value's `code`.
 */
export function classifyGuestError(info: GuestErrorInfo, phase: 'compile' | 'run'): SandboxFailure {
  const name = info.name === undefined ? undefined : clipText(String(info.name), 256);
  const message = clipText(String(info.message));
  if (name === 'SyntaxError' && message === 'stack overflow') {
    // The parser (or JSON.parse) nested deeper than the stack allows.
    return { code: 'STACK_OVERFLOW', message: 'maximum call stack size exceeded' };
  }
  if (phase === 'compile' && name === 'SyntaxError') {
    return withStack({ code: 'SYNTAX_ERROR', message: `SyntaxError: ${message}`, name }, info);
  }
  if (name === 'InternalError' || name === 'RangeError') {
    if (/out of memory/i.test(message) || /string too long/i.test(message)) {
      return { code: 'MEMORY_LIMIT', message: 'the sandbox exceeded its memory limit' };
    }
    if (/stack overflow|call stack/i.test(message)) {
      return { code: 'STACK_OVERFLOW', message: 'maximum call stack size exceeded' };
    }
  }
  const failure: SandboxFailure = { code: 'RUNTIME_ERROR', message: message || name || 'Error' };
  if (name !== undefined) failure.name = name;
  if (info.code !== undefined) failure.details = { code: info.code };
  return withStack(failure, info);
}

function withStack(failure: SandboxFailure, info: GuestErrorInfo): SandboxFailure {
  const stack = info.stack ? clipText(guestFrames(String(info.stack)), MAX_ERROR_TEXT * 2) : '';
  if (stack) failure.stack = stack;
  return failure;
}

/** Keeps the frames of the agent's code: the broker's own guest runtime is not shown. */
function guestFrames(stack: string): string {
  return stack
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.includes('enclave:guest'))
    .join('\n');
}
