import type { SandboxFailure } from './types.js';

/** What the guest told about an error it threw (or what the host read off it). */
export interface GuestErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/** Longest error message (and, times two, stack) passed on to the host's events. */
export const MAX_ERROR_TEXT = 8192;

/** Clips guest-controlled text so an error cannot smuggle megabytes past the output limits. */
export function clipText(text: string, max = MAX_ERROR_TEXT): string {
  return text.length > max ? `${text.slice(0, max)}... [truncated]` : text;
}

/** Maps an error the guest ended with to a SPEC §5 code. */
export function classifyGuestError(info: GuestErrorInfo, phase: 'compile' | 'run'): SandboxFailure {
  const name = clipText(String(info.name), 256);
  const message = clipText(String(info.message));
  if (name === 'SyntaxError' && message === 'stack overflow') {
    // The parser (or JSON.parse) nested deeper than the stack allows.
    return { code: 'STACK_OVERFLOW', message: 'maximum call stack size exceeded' };
  }
  if (phase === 'compile' && name === 'SyntaxError') {
    return withStack({ code: 'SYNTAX_ERROR', message: `SyntaxError: ${message}` }, info);
  }
  if (name === 'InternalError' || name === 'RangeError') {
    if (/out of memory/i.test(message) || /string too long/i.test(message)) {
      return { code: 'MEMORY_LIMIT', message: 'the sandbox exceeded its memory limit' };
    }
    if (/stack overflow|call stack/i.test(message)) {
      return { code: 'STACK_OVERFLOW', message: 'maximum call stack size exceeded' };
    }
  }
  return withStack({ code: 'RUNTIME_ERROR', message: message ? `${name}: ${message}` : name }, info);
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
