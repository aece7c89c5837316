/** A watchdog for code that must not hold this thread (Node): V8's own, through `node:vm`. */
import { createContext, Script } from 'node:vm';
import type { TurnGuard } from './first-turn.js';

/**
 * A guard built on `vm` timeouts (a watchdog thread per call: about 50 µs). The stop is V8's
 * `TerminateExecution`, which ends WASM and JavaScript alike, a native built-in of a QuickJS
 * module included.
 */
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
