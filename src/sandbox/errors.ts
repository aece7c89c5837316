import type { SandboxFailure } from './types.js';

/** What the guest told about an error it threw (or what the host read off it). */
export interface GuestErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/** Maps an error the guest ended with to a SPEC §5 code. */
export function classifyGuestError(info: GuestErrorInfo, phase: 'compile' | 'run'): SandboxFailure {
  const { name, message } = info;
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
    if (name === 'InternalError' && /interrupted/i.test(message)) {
      return { code: 'TIMEOUT', message: 'execution timed out' };
    }
  }
  return withStack({ code: 'RUNTIME_ERROR', message: message ? `${name}: ${message}` : name }, info);
}

function withStack(failure: SandboxFailure, info: GuestErrorInfo): SandboxFailure {
  const stack = info.stack ? guestFrames(info.stack) : '';
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
