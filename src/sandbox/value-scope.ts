import type { QuickJSHandle } from 'quickjs-emscripten-core';
import { isWasmAbort } from './errors.js';
import type { BorrowedValue, OwnedValue, RawOps } from './raw.js';

/**
 * What a block holds for as long as it runs: raw values and library handles, freed last first
 * when the block ends, however it ends. For steps where an engine call between taking a value
 * and freeing it may throw (the memory limit, an interrupt, a guest setter), so that nothing
 * leaks on the way out. quickjs-emscripten-core's `Scope` does the same for handles only; this
 * one also holds raw values, without wrapping each in a handle.
 */
export class ValueScope {
  private readonly held: (OwnedValue | QuickJSHandle)[] = [];

  private constructor(private readonly raw: RawOps) {}

  /**
   * Runs `block` with a new scope and frees what it holds when the block returns or throws.
   * After a WASM abort nothing is freed (the module is gone, and a call into it could throw
   * anew); after any other throw, an error while freeing does not replace the block's own.
   */
  static run<T>(raw: RawOps, block: (scope: ValueScope) => T): T {
    const scope = new ValueScope(raw);
    let result: T;
    try {
      result = block(scope);
    } catch (err) {
      if (!isWasmAbort(err)) {
        try {
          scope.dispose();
        } catch {
          // The block's error is the one that tells what happened.
        }
      }
      throw err;
    }
    scope.dispose();
    return result;
  }

  /** Frees `value` when the scope ends; answers it, lent to the block meanwhile. */
  own(value: OwnedValue): BorrowedValue {
    this.held.push(value);
    return value;
  }

  /** Disposes `handle` when the scope ends (unless it was disposed before). */
  manage<T extends QuickJSHandle>(handle: T): T {
    this.held.push(handle);
    return handle;
  }

  /** Takes `value` back out of the scope: the block hands it on (its caller now owns it). */
  keep(value: OwnedValue): OwnedValue {
    const i = this.held.lastIndexOf(value);
    if (i >= 0) this.held.splice(i, 1);
    return value;
  }

  private dispose(): void {
    const held = this.held;
    while (held.length > 0) {
      const item = held.pop()!;
      if (typeof item === 'number') this.raw.free(item);
      else if (item.alive) item.dispose();
    }
  }
}
