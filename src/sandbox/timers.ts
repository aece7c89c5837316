import type { QuickJSContext, QuickJSHandle, VmCallResult } from 'quickjs-emscripten-core';
import type { SandboxListener } from './types.js';

/** Timers one session may have pending at once (docs/protocol.md). */
const MAX_TIMERS = 10_000;

/** A pending guest timer: its callback and arguments (handles it owns until it runs or is cleared). */
export interface GuestTimer {
  /** The host timer; absent when the listener runs the session's timers (see `reportToListener`). */
  host?: ReturnType<typeof setTimeout>;
  fn: QuickJSHandle;
  args: QuickJSHandle[];
  /** Delay asked for, and whether the listener was told (listener-run timers only). */
  ms?: number;
  reported?: boolean;
}

/** What the timers need of the sandbox they run in. */
export interface TimerHost {
  /** Epoch ms at which the session ends. */
  deadline(): number;
  /** A host timer came due: the sandbox runs timer `id` (see `QuickJSSandbox.fire`). */
  due(id: number): void;
}

/**
 * The guest's `setTimeout` and `clearTimeout`. A timer runs on a host timer, or, in a
 * deterministic session whose listener runs the timers, when the listener fires it: the
 * timers set and cleared during one entry into the guest are then reported when it yields.
 */
export class GuestTimers {
  private readonly pending = new Map<number, GuestTimer>();
  private nextId = 1;
  /** Set when the listener runs the timers: timers set and cleared since the last report. */
  private reports: { set: number[]; cleared: number[] } | undefined;

  constructor(
    private readonly ctx: QuickJSContext,
    private readonly host: TimerHost,
  ) {}

  /** From now on the listener runs the timers: they get no host timer and are reported instead. */
  reportToListener(): void {
    this.reports = { set: [], cleared: [] };
  }

  /** The listener runs the timers (see `reportToListener`). */
  get reporting(): boolean {
    return this.reports !== undefined;
  }

  /** `setTimeout(fn, ms, ...args)`: answers the timer's id. */
  set(fn: QuickJSHandle | undefined, msHandle: QuickJSHandle | undefined, args: QuickJSHandle[]): QuickJSHandle {
    const ctx = this.ctx;
    if (!fn || ctx.typeof(fn) !== 'function') throw new TypeError('setTimeout: the callback must be a function');
    if (this.pending.size >= MAX_TIMERS) throw new Error('setTimeout: too many pending timers');
    const requested = msHandle ? this.toNumber(msHandle) : 0;
    const ms = Number.isFinite(requested) && requested > 0 ? requested : 0;
    const id = this.nextId++;
    const now = Date.now();
    const deadline = this.host.deadline();
    const timer: GuestTimer = { fn: fn.dup(), args: args.map((a) => a.dup()) };
    if (this.reports) {
      // The listener does not fire a timer due at or after the session's deadline (Session.onTimerSet).
      timer.ms = Math.min(ms, Math.max(0, deadline - now) + 1);
      this.reports.set.push(id);
    } else if (now + ms < deadline) {
      timer.host = setTimeout(() => this.host.due(id), ms);
    }
    // Otherwise it is due at or after the deadline: it gets no host timer and never fires, so
    // the deadline ends the session first (two host timers due a millisecond apart can fire
    // in either order).
    this.pending.set(id, timer);
    return ctx.newNumber(id);
  }

  /** `clearTimeout(id)`. */
  clear(idHandle: QuickJSHandle | undefined): void {
    if (!idHandle || this.ctx.typeof(idHandle) !== 'number') return;
    const id = this.ctx.getNumber(idHandle);
    const timer = this.pending.get(id);
    if (!timer) return;
    this.pending.delete(id);
    if (timer.host !== undefined) clearTimeout(timer.host);
    if (timer.reported) this.reports!.cleared.push(id);
    disposeTimer(timer);
  }

  has(id: number): boolean {
    return this.pending.has(id);
  }

  /** The pending timer `id`, no longer pending. */
  take(id: number): GuestTimer | undefined {
    const timer = this.pending.get(id);
    if (timer) this.pending.delete(id);
    return timer;
  }

  /** Calls a taken timer's callback (inside an entry into the guest), then frees it. */
  run(timer: GuestTimer): VmCallResult<QuickJSHandle> {
    try {
      return this.ctx.callFunction(timer.fn, this.ctx.undefined, ...timer.args);
    } finally {
      disposeTimer(timer);
    }
  }

  /** Tells the listener which timers the guest set (still pending) and cleared since the last report. */
  report(listener: SandboxListener): void {
    const reports = this.reports!;
    if (reports.cleared.length > 0) {
      const cleared = reports.cleared;
      reports.cleared = [];
      for (const id of cleared) listener.onTimerCleared?.(id);
    }
    if (reports.set.length > 0) {
      const set = reports.set;
      reports.set = [];
      for (const id of set) {
        const timer = this.pending.get(id);
        // Set and cleared within one turn of the guest: the listener never hears of it.
        if (!timer) continue;
        timer.reported = true;
        listener.onTimerSet!(id, timer.ms ?? 0);
      }
    }
  }

  /** Stops every host timer (the session ended); the guest's functions are freed by `dispose`. */
  stopHostTimers(): void {
    for (const timer of this.pending.values()) if (timer.host !== undefined) clearTimeout(timer.host);
  }

  /** Frees the timers still pending. */
  dispose(): void {
    try {
      for (const timer of this.pending.values()) disposeTimer(timer);
    } finally {
      this.pending.clear();
    }
  }

  /** `Number(value)` in the guest (its `valueOf` runs there); a throw goes back to the guest. */
  private toNumber(value: QuickJSHandle): number {
    const ctx = this.ctx;
    const type = ctx.typeof(value);
    if (type === 'number') return ctx.getNumber(value);
    if (type === 'undefined') return 0;
    const numberCtor = ctx.getProp(ctx.global, 'Number');
    const result = ctx.callFunction(numberCtor, ctx.undefined, value);
    numberCtor.dispose();
    if (result.error) throw result.error;
    const n = ctx.typeof(result.value) === 'number' ? ctx.getNumber(result.value) : 0;
    result.value.dispose();
    return n;
  }
}

function disposeTimer(timer: GuestTimer): void {
  timer.fn.dispose();
  for (const a of timer.args) a.dispose();
}
