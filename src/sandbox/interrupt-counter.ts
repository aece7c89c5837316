import type { QuickJSContext } from 'quickjs-emscripten-core';

/**
 * Where a QuickJS context keeps its interrupt counter, so the host can make the next poll
 * call the interrupt handler at once.
 *
 * QuickJS calls the interrupt handler when a per-context counter, decremented at every loop
 * back-edge and function entry, reaches zero (then resets it to 10 000). A script whose every
 * iteration is expensive — `for (;;) try { a.push(new Array(1e5).fill(0)) } catch {}` at the
 * memory ceiling, each failing allocation costing a fraction of a millisecond — reaches the
 * handler only every 10 000 iterations: seconds. When the host decides the guest must stop
 * (the memory ceiling was hit), it writes 1 into the counter, and the very next poll stops it.
 *
 * The counter's offset inside `JSContext` depends on the engine build. It is found, not
 * assumed: run two loops of known lengths in a fresh context and look for the one 32-bit word
 * of the context that went down by exactly the difference of their iteration counts. When no
 * single word fits, the offset is unknown and the host falls back to the handler's own pace.
 */
export interface InterruptCounter {
  /** Makes the context's next interrupt poll call the handler. */
  trip(ctx: QuickJSContext, memory: WebAssembly.Memory): void;
  /** Sets how many polls from now the handler is called next (1 to 10 000). */
  set(ctx: QuickJSContext, memory: WebAssembly.Memory, polls: number): void;
}

/** What QuickJS resets the counter to at each handler call. */
const POLLS_PER_CHECK = 10_000;

/** The bytes of `JSContext` searched for the counter. */
const SEARCH_BYTES = 1024;

export function findInterruptCounter(ctx: QuickJSContext, memory: WebAssembly.Memory): InterruptCounter | undefined {
  const base = contextPointer(ctx);
  if (base === undefined || base % 4 !== 0) return undefined;
  const snapshot = () => new Int32Array(memory.buffer, base, SEARCH_BYTES / 4).slice();
  const loop = (n: number) => {
    const result = ctx.evalCode(`for (let i = 0; i < ${n}; i++) {}`);
    if (result.error) {
      result.error.dispose();
      return false;
    }
    result.value.dispose();
    return true;
  };
  // A first run sets the counter going (a new context starts it at zero).
  if (!loop(1)) return undefined;
  // Twice at most: a counter that reached zero during a probe was reset, and the next probe fits.
  for (let attempt = 0; attempt < 2; attempt++) {
    const s0 = snapshot();
    if (!loop(100)) return undefined;
    const s1 = snapshot();
    if (!loop(1100)) return undefined;
    const s2 = snapshot();
    const fits: number[] = [];
    for (let i = 0; i < s0.length; i++) {
      const first = s0[i]! - s1[i]!;
      const second = s1[i]! - s2[i]!;
      // A loop iteration polls once or a few times (its back-edge, its condition's jump).
      const perIteration = (second - first) / 1000;
      if (first > 0 && Number.isInteger(perIteration) && perIteration >= 1 && perIteration <= 4 && s2[i]! > 0 && s0[i]! <= POLLS_PER_CHECK) fits.push(i);
    }
    if (fits.length === 1) {
      const offset = fits[0]! * 4;
      let view = new Int32Array(memory.buffer);
      const set = (target: QuickJSContext, mem: WebAssembly.Memory, polls: number) => {
        const at = contextPointer(target);
        if (at === undefined) return;
        if (view.buffer !== mem.buffer) view = new Int32Array(mem.buffer);
        view[(at + offset) >> 2] = polls;
      };
      return { set, trip: (target, mem) => set(target, mem, 1) };
    }
    if (fits.length > 1) return undefined;
  }
  return undefined;
}

function contextPointer(ctx: QuickJSContext): number | undefined {
  const lifetime = (ctx as unknown as { ctx?: { value?: unknown; alive?: boolean } }).ctx;
  const value = lifetime?.alive === false ? undefined : lifetime?.value;
  return typeof value === 'number' && value > 0 ? value : undefined;
}
