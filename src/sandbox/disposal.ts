import { isWasmAbort } from './errors.js';
import type { ModulePool, ModuleSlot } from './modules.js';

/** Something whose engine resources are freed by `dispose()` (an ended sandbox). */
interface Disposable {
  dispose(): void;
}

/**
 * Hands an ended sandbox's module back to the pool, after `free` released what the sandbox
 * held in it. A module that crashed meanwhile is let go as a whole (the pool did already). A
 * `tainted` one is not freed into at all: disposing a runtime after out-of-memory or an
 * interrupted job can abort the module (quickjs-emscripten #257/#269), so the module, which
 * is the sandbox's alone, is dropped whole, its memory with it. One whose freeing threw is
 * dropped too (and marked crashed when the WASM aborted).
 */
export function releaseModule(pool: ModulePool, slot: ModuleSlot, tainted: boolean, free: () => void): void {
  if (slot.crashed) return;
  if (tainted) {
    pool.release(slot, false);
    return;
  }
  let clean = false;
  try {
    free();
    clean = true;
  } catch (err) {
    if (isWasmAbort(err)) pool.crash(slot, err instanceof Error ? err.message : String(err));
  } finally {
    if (!slot.crashed) pool.release(slot, clean);
  }
}

let toDispose: Disposable[] = [];

/**
 * Ended sandboxes waiting for their batch. A caller that runs sessions back to back in
 * microtasks only (`for await (… of broker.execute(…))` in a loop) never lets the thread reach
 * its idle check: past this many, the batch is disposed at once, so the WASM heap (which never
 * shrinks) does not grow with the number of sessions run.
 */
const MAX_PENDING_DISPOSALS = 16;

/**
 * Disposes an ended sandbox once the thread is idle, in one batch with the others that ended
 * meanwhile (on Node and Bun; elsewhere at once): freeing the runtime then comes after the
 * outcome went out.
 */
export function disposeWhenIdle(sandbox: Disposable): void {
  if (typeof setImmediate !== 'function') return sandbox.dispose();
  toDispose.push(sandbox);
  if (toDispose.length >= MAX_PENDING_DISPOSALS) return disposePending();
  if (toDispose.length > 1) return;
  setImmediate(disposePending);
}

/** Disposes the ended sandboxes waiting for their batch now. */
export function disposePending(): void {
  const batch = toDispose;
  toDispose = [];
  for (const s of batch) s.dispose();
}
