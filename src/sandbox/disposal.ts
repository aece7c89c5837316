/** Something whose engine resources are freed by `dispose()` (an ended sandbox). */
interface Disposable {
  dispose(): void;
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
