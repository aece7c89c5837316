/** A watchdog for code that must not hold this thread (Node): V8's own, through `node:vm`. */
import { createContext, Script } from 'node:vm';

/**
 * Runs `fn` on this thread; answers false when it was stopped after `ms` milliseconds. The
 * stop is V8's `TerminateExecution`, which ends WASM and JavaScript alike, native built-ins
 * of a QuickJS module included, wherever they are: whatever `fn` was changing is left half
 * done, and the caller must drop all of it.
 */
export type TurnGuard = (fn: () => void, ms: number) => boolean;

/** A guard built on `vm` timeouts (a watchdog thread per call: about 50 µs). */
export function createTurnGuard(): TurnGuard {
  const context = createContext({ run: undefined as (() => void) | undefined });
  const script = new Script('run()');
  return (fn, ms) => {
    context['run'] = fn;
    try {
      script.runInContext(context, { timeout: ms });
      return true;
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return false;
      throw err;
    } finally {
      context['run'] = undefined;
    }
  };
}
