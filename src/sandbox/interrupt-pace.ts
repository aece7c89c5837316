import type { QuickJSContext } from 'quickjs-emscripten-core';
import type { InterruptCounter } from './interrupt-counter.js';

/** Target time between two calls of the interrupt handler while guest code runs. */
const CHECK_MS = 1;
/** Polls before the first call of the handler in an entry into the guest. */
const FIRST_CHECK_POLLS = 64;
/**
 * Most polls between two calls: a hot loop then calls the handler every 50–100 µs (≈ 1 %
 * of its time), and a loop whose iterations turn slow is seen within 1000 of them.
 */
const MAX_CHECK_POLLS = 1000;

/**
 * Keeps the interrupt handler's calls about `CHECK_MS` apart. QuickJS calls it every
 * 10 000 polls (loop back-edges, function entries); a loop whose every iteration calls a
 * slow built-in (`for (…) s.indexOf(…)` on a long string) would otherwise hold the thread
 * for seconds between two looks at the deadline, a cancel or the memory ceiling. The
 * interval shrinks, down to every poll, when calls come late, and grows back when they
 * come early (see interrupt-counter.ts). Without a known counter the engine keeps its own pace.
 */
export class InterruptPace {
  /** Interrupt polls between two calls of the handler. */
  private pollEvery = FIRST_CHECK_POLLS;
  /** `performance.now()` at the last handler call, or at the entry into the guest. */
  private lastCheck = 0;

  constructor(
    /** Where the engine build keeps its counter (read on each use: the pool finds it). */
    private readonly pool: { readonly interruptCounter: InterruptCounter | undefined },
    private readonly ctx: QuickJSContext,
    private readonly memory: WebAssembly.Memory,
  ) {}

  /** An entry into the guest begins: it starts with a short interval, the time it takes being unknown. */
  enter(): void {
    this.lastCheck = performance.now();
    const counter = this.pool.interruptCounter;
    if (!counter) return;
    this.pollEvery = Math.min(this.pollEvery, FIRST_CHECK_POLLS);
    counter.set(this.ctx, this.memory, this.pollEvery);
  }

  /** The interrupt handler was called (and lets the guest go on): sets the next interval. */
  checked(): void {
    const counter = this.pool.interruptCounter;
    if (!counter) return;
    const now = performance.now();
    const elapsed = now - this.lastCheck;
    this.lastCheck = now;
    const every = this.pollEvery;
    const next = Math.max(1, Math.min(MAX_CHECK_POLLS, Math.round((every * CHECK_MS) / Math.max(elapsed, 0.001))));
    // Quartered or quadrupled at most per call: one odd stretch moves it gently.
    this.pollEvery = Math.max(Math.floor(every / 4) || 1, Math.min(every * 4, next));
    counter.set(this.ctx, this.memory, this.pollEvery);
  }
}
