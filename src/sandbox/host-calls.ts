import { Lifetime, WeakLifetime, type QuickJSContext, type QuickJSHandle } from 'quickjs-emscripten-core';
import { borrow, type OwnedValue } from './raw.js';

/**
 * What a host function installed by the sandbox is: synchronous; it answers a handle, a raw
 * value it owns (handed to the engine as is, which then owns it), or nothing.
 */
type HostFunction = (...args: QuickJSHandle[]) => QuickJSHandle | OwnedValue | undefined | void;

/** The parts of quickjs-emscripten-core's `QuickJSContext` (0.32) the fast path uses. */
interface ContextInternals {
  cToHostCallbacks?: { callFunction?: unknown };
  ffi?: {
    QTS_ArgvGetJSValueConstPointer?: (argv: number, index: number) => number;
    QTS_DupValuePointer?: (ctx: number, value: number) => number;
    QTS_Throw?: (ctx: number, error: number) => number;
  };
  memory?: { copyJSValue?: (ptr: number) => number; freeJSValue?: (ptr: number) => void };
  ctx?: { value?: number };
  runtime?: { hostRefs?: { get(id: number): unknown } };
}

/**
 * Replaces the library's dispatch of guest → host calls for one context with a lean one.
 *
 * quickjs-emscripten runs every host function call through a generator-based scope that can
 * also suspend for its asyncify build; the sync build never suspends, and that machinery is
 * about a third of the cost of a `callTool` round trip. This dispatch does what the library's
 * does for a synchronous function (arguments as weak handles that die after the call, the
 * returned handle duplicated for the engine and released, a thrown error or handle thrown into
 * the guest) without the generator; a function may also answer a raw value pointer it owns.
 *
 * When the context does not have the expected shape (another library version), nothing is
 * replaced and the answer is false. There is no fallback to the library's dispatch: the
 * sandbox's `callTool` answers raw pointers, which only this dispatch understands, so the
 * sandbox then refuses to start (its set-up throws, and the session ends with INTERNAL_ERROR).
 */
export function installFastHostCalls(context: QuickJSContext): boolean {
  const internals = context as unknown as ContextInternals;
  const callbacks = internals.cToHostCallbacks;
  const ffi = internals.ffi;
  const memory = internals.memory;
  const hostRefs = internals.runtime?.hostRefs;
  const ctxPtr = internals.ctx?.value;
  if (
    !callbacks ||
    typeof callbacks.callFunction !== 'function' ||
    typeof ffi?.QTS_ArgvGetJSValueConstPointer !== 'function' ||
    typeof ffi.QTS_DupValuePointer !== 'function' ||
    typeof ffi.QTS_Throw !== 'function' ||
    typeof memory?.copyJSValue !== 'function' ||
    typeof memory.freeJSValue !== 'function' ||
    typeof hostRefs?.get !== 'function' ||
    typeof ctxPtr !== 'number'
  ) {
    return false;
  }
  const argvAt = ffi.QTS_ArgvGetJSValueConstPointer.bind(ffi);
  const dup = ffi.QTS_DupValuePointer.bind(ffi);
  const throwInGuest = ffi.QTS_Throw.bind(ffi);
  const { copyJSValue, freeJSValue } = memory;
  const owner = internals.runtime;

  callbacks.callFunction = (ctx: number, _thisPtr: number, argc: number, argv: number, fnId: number): number => {
    if (ctx !== ctxPtr) throw new Error('a host call arrived for another context');
    const fn = hostRefs.get(fnId);
    if (typeof fn !== 'function') throw new Error(`host reference ${fnId} is not a function`);
    const args: QuickJSHandle[] = new Array(argc);
    for (let i = 0; i < argc; i++) args[i] = new WeakLifetime(argvAt(argv, i), copyJSValue, freeJSValue, owner) as unknown as QuickJSHandle;
    try {
      const result = (fn as HostFunction)(...args);
      if (!result) return 0;
      if (typeof result === 'number') return result;
      try {
        return dup(ctxPtr, borrow(result));
      } finally {
        result.dispose();
      }
    } catch (error) {
      const handle = error instanceof Lifetime ? (error as QuickJSHandle) : context.newError(error as Error);
      try {
        return throwInGuest(ctxPtr, borrow(handle));
      } finally {
        handle.dispose();
      }
    } finally {
      for (const arg of args) arg.dispose();
    }
  };
  return true;
}

/**
 * A guest function whose host side answers a raw value it owns (the engine takes it over):
 * understood only by the dispatch `installFastHostCalls` installed in `context`, which the
 * library's own types do not know of.
 */
export function newRawFunction(context: QuickJSContext, name: string, fn: (...args: QuickJSHandle[]) => OwnedValue): QuickJSHandle {
  return context.newFunction(name, fn as unknown as (...args: QuickJSHandle[]) => QuickJSHandle);
}
