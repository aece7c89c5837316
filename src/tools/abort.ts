/**
 * A call's cancellation without its AbortSignal. For the broker's own handlers:
 * `listenAbort(context, listener)` runs `listener` once when the call's `signal` would fire
 * (at once when it has), without making the signal. A handler that hands cancellation to a
 * library per call pays for an AbortSignal and its listener otherwise (microseconds on
 * Node 20, more than a fast remote call's own work).
 */
import type { ExecutionContext } from './types.js';

/** The hook a context of the broker's own (session/tool-context.ts) answers to. */
export const ON_ABORT: unique symbol = Symbol('enclave.onAbort');

/** A context that can tell of its call's cancellation without an AbortSignal. */
export interface AbortListenable {
  [ON_ABORT](listener: () => void): void;
}

/**
 * Runs `listener` when the call of `context` is cancelled: through the broker's own hook when
 * the context has one, else through its `signal`. Returns what stops listening (the broker's
 * own contexts drop their listeners when the call settles; a caller's signal may outlive it).
 */
export function listenAbort(context: ExecutionContext, listener: () => void): () => void {
  const hook = (context as Partial<AbortListenable>)[ON_ABORT];
  if (typeof hook === 'function') {
    hook.call(context, listener);
    return ignore;
  }
  const signal = context.signal;
  if (signal.aborted) {
    listener();
    return ignore;
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

function ignore(): void {}
