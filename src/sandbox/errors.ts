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

/** The failure of a session whose sandbox reached its memory limit. */
export function memoryLimit(): SandboxFailure {
  return { code: 'MEMORY_LIMIT', message: 'the sandbox exceeded its memory limit' };
}

/** True for the error a WASM module throws when it aborted and can no longer be used. */
export function isWasmAbort(err: unknown): boolean {
  if (typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError) return true;
  const message = err instanceof Error ? err.message : String(err);
  return /\bAborted\(|\bunreachable\b|memory access out of bounds/.test(message);
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
    if (/out of memory/i.test(message) || /string too long/i.test(message)) return memoryLimit();
    if (/stack overflow|call stack/i.test(message)) {
      return { code: 'STACK_OVERFLOW', message: 'maximum call stack size exceeded' };
    }
  }
  const failure: SandboxFailure = { code: 'RUNTIME_ERROR', message: message || name || 'Error' };
  if (name !== undefined) failure.name = name;
  if (info.code !== undefined) failure.details = { code: info.code };
  return withStack(failure, info);
}

/** How a host-side failure (an exception out of the engine, not a guest throw) ends a session. */
export interface HostFailure {
  failure: SandboxFailure;
  /** Set when the WASM module can no longer be trusted: the pool drops it, with this reason. */
  moduleCrash?: string;
}

/**
 * Maps an exception that escaped the engine (set-up, or an entry into the guest) to the
 * session's failure. `memoryRefused`: the module's memory refused an allocation meanwhile;
 * `stop`: the host had already decided the guest must stop (deadline, cancel, output limits).
 */
export function classifyHostError(err: unknown, memoryRefused: boolean, stop: SandboxFailure | undefined): HostFailure {
  // Whatever broke, it broke at the memory ceiling.
  if (memoryRefused) return { failure: memoryLimit() };
  // Set-up was interrupted (its deadline passed, or it was cancelled): that is the outcome.
  if (stop) return { failure: stop };
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    // The engine's native recursion outran the host's stack: the WASM frames were unwound
    // by a JavaScript exception and the module's state cannot be trusted any more.
    return {
      failure: { code: 'STACK_OVERFLOW', message: 'maximum call stack size exceeded' },
      moduleCrash: 'the host stack overflowed inside the engine',
    };
  }
  if (isWasmAbort(err)) {
    const reason = err instanceof Error ? err.message : String(err);
    return { failure: engineFailure(reason), moduleCrash: reason };
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/out of memory/i.test(message)) return { failure: memoryLimit() };
  return { failure: { code: 'INTERNAL_ERROR', message: 'the sandbox failed to start', recoverable: true } };
}

/** The failure of a session whose engine (its WASM module) failed under it. */
export function engineFailure(reason: string): SandboxFailure {
  return { code: 'SANDBOX_CRASHED', message: `the sandbox engine failed: ${reason}`, recoverable: true };
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
