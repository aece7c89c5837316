import type { LogLevel } from '../protocol/events.js';
import { mentionsTools } from '../sandbox/tool-namespace.js';
import type { SandboxHandle, SandboxListener, SandboxOutcome, SandboxSpec } from '../sandbox/types.js';
import type { Executor, ExecutorStats } from './executor.js';
import type { InlineExecutor } from './inline.js';

/**
 * Runs `fn` on this thread; answers false when it stopped it after `ms` milliseconds, wherever
 * it was (turn-guard.node.ts: V8's `TerminateExecution`, through `node:vm`). Whatever `fn` was
 * changing is then left half done, and the caller must drop all of it.
 */
export type TurnGuard = (fn: () => void, ms: number) => boolean;

/** How the first turn of a session's code may run on the calling thread. */
export interface FirstTurnOptions {
  /**
   * Wall-clock milliseconds (more than 0) the code may run on the calling thread, its
   * sandbox's set-up included, before it is run again from the start in the pool.
   */
  sliceMs: number;
  /** Bytes the first turn may allocate on the calling thread (see `SandboxSpec.memoryCeilingBytes`). */
  memoryBytes: number;
  /**
   * Share (0..1) of the calling thread's time that first turns which had to be run again may
   * take over time. Their time is a debt that this share of each millisecond pays back; while
   * more than `BURST_SLICES` slices are owed, new sessions go straight to the pool.
   */
  maxWastedShare: number;
}

/**
 * Least time a first turn may hold this thread before the watchdog stops it: well above the
 * slice (which the interrupt enforces) and a garbage collector's pause, so that what it stops is
 * a native built-in that polls nothing, not this process's own code.
 */
const WATCHDOG_MIN_MS = 25;

/** First turns that may be run again back to back before `maxWastedShare` applies. */
const BURST_SLICES = 5;

export const DEFAULT_FIRST_TURN: FirstTurnOptions = { sliceMs: 2, memoryBytes: 4 * 1024 * 1024, maxWastedShare: 0.1 };

/**
 * Outcomes of a first turn that stand: the code's own result or error, the same wherever it
 * runs. Anything else (its slice ran out, the memory ceiling of the turn, a stack overflow on
 * this thread's stack, an engine failure) is decided by the pool.
 */
const FINAL = new Set(['SYNTAX_ERROR', 'RUNTIME_ERROR', 'INVALID_RESULT', 'RESULT_TOO_LARGE', 'STDOUT_LIMIT']);

/** Whether code shows that it will call a tool or wait on a timer: it goes to the pool at once. */
function waitsOnHost(code: string): boolean {
  return mentionsTools(code) || /\b(?:callTool|setTimeout|setInterval)\b/.test(code);
}

type Buffered = ['out', string] | ['log', LogLevel, string];

/**
 * Runs a new session's code on the calling thread up to its first wait, and keeps it there
 * when that was its end: a script that computes and returns (most of them) costs a sandbox on
 * this thread instead of two thread hand-offs and a worker's time. Nothing of that turn is
 * seen until it stands: its console output waits, and a tool call, a wait that outlives the
 * turn, or any outcome not in `FINAL` drops the turn unseen and runs the code from the start
 * in the pool, with the time left. Code that names a tool or a timer goes to the pool at once.
 *
 * What bounds the calling thread: each turn runs at most `sliceMs` (its interrupt deadline)
 * and allocates at most `memoryBytes`; turns that had to be run again may take at most
 * `maxWastedShare` of this thread's time, so a flood of spinners (or of native built-ins that
 * do not poll the interrupt) costs it a tenth of its time until admission refuses them; the
 * guard stops a turn held past `watchdogMs()` by a built-in that polls nothing. The turn uses
 * the pool's engine settings (stack included), so what the guest sees is what it would see in
 * a worker.
 */
export class FirstTurnExecutor implements Executor {
  readonly kind: string;
  readonly reportsStart = true;
  private stayed = 0;
  private moved = 0;
  /** Sessions sent to the pool without a first turn here, by reason. */
  private readonly direct = { waits: 0, throttled: 0, unready: 0 };
  /** Milliseconds of this thread owed by first turns run again (see `maxWastedShare`). */
  private debtMs = 0;
  private debtAt = 0;

  /** First turns the watchdog stopped (each time, the sandboxes of this thread were all replaced). */
  private stopped = 0;
  private inline: InlineExecutor;

  constructor(
    /** Where sessions go that do not end in their first turn here. */
    readonly pool: Executor,
    /** Makes the executor of first turns: at the start, and again after the watchdog stopped one. */
    private readonly makeInline: () => InlineExecutor,
    private readonly guard: TurnGuard,
    private readonly options: FirstTurnOptions = DEFAULT_FIRST_TURN,
  ) {
    this.kind = pool.kind;
    this.inline = makeInline();
  }

  accepting(): boolean {
    return this.pool.accepting?.() ?? true;
  }

  start(spec: SandboxSpec, listener: SandboxListener): SandboxHandle {
    const skip = this.skipReason(spec);
    if (skip) {
      this.direct[skip]++;
      return this.pool.start(spec, listener);
    }
    const began = performance.now();
    const buffered: Buffered[] = [];
    let outcome: SandboxOutcome | undefined;
    let called = false;
    const turn: SandboxListener = {
      onToolCall: () => (called = true),
      onStdout: (chunk) => buffered.push(['out', chunk]),
      onLog: (level, message) => buffered.push(['log', level, message]),
      onDone: (o) => (outcome = o),
      // The turn's timers get no host timer: one still pending when the turn ends is a wait.
      onTimerSet: () => undefined,
      onTimerCleared: () => undefined,
    };
    if (listener.pollAbort) turn.pollAbort = () => listener.pollAbort!();
    const limits = { ...spec.limits, timeoutMs: Math.min(spec.limits.timeoutMs, this.options.sliceMs) };
    let finished = true;
    const guard = (run: () => void) => (finished = this.guard(run, this.watchdogMs()));
    const handle = this.inline.startNow({ ...spec, limits, memoryCeilingBytes: this.options.memoryBytes }, turn, guard);
    if (!finished) this.replaceInline();
    if (!handle) {
      // No sandbox ready on this thread (a burst used them up): not worth loading one.
      this.direct.unready++;
      return this.pool.start(spec, listener);
    }
    if (finished && outcome && !called && (outcome.ok || FINAL.has(outcome.error.code))) {
      this.stayed++;
      listener.onStarted?.();
      for (const event of buffered) {
        if (event[0] === 'out') listener.onStdout(event[1]);
        else listener.onLog(event[1], event[2]);
      }
      listener.onDone(outcome);
      return handle;
    }
    // Dropped unseen: the pool runs the code from the start, in the time that is left.
    if (!outcome && finished) handle.abort({ code: 'CANCELLED', message: 'moved to the pool' });
    const spent = performance.now() - began;
    this.moved++;
    this.debtMs += spent;
    const moved = this.pool.start(spec, listener);
    if (spent >= 1) moved.extendDeadline(-Math.floor(spent));
    return moved;
  }

  /** How long a first turn may hold this thread in all, past its slice (a native built-in that polls nothing). */
  private watchdogMs(): number {
    return Math.max(WATCHDOG_MIN_MS, 10 * this.options.sliceMs);
  }

  /**
   * The watchdog stopped a first turn wherever it was, maybe inside this executor's own
   * bookkeeping or another sandbox's disposal: nothing of it is trusted again. Its modules go
   * (each sandbox still in one ends as crashed), and a new executor takes the next first turns.
   */
  private replaceInline(): void {
    this.stopped++;
    const old = this.inline;
    this.inline = this.makeInline();
    void old.close();
    void this.inline.warm().catch(() => undefined);
  }

  /** Why this session's first turn does not run here (code that waits, or turns being wasted), if so. */
  private skipReason(spec: SandboxSpec): 'waits' | 'throttled' | undefined {
    if (waitsOnHost(spec.code)) return 'waits';
    const now = performance.now();
    this.debtMs = Math.max(0, this.debtMs - (now - this.debtAt) * this.options.maxWastedShare);
    this.debtAt = now;
    return this.debtMs > BURST_SLICES * this.options.sliceMs ? 'throttled' : undefined;
  }

  async warm(): Promise<void> {
    await Promise.all([this.pool.warm(), this.inline.warm()]);
  }

  stats(): ExecutorStats {
    const pool = this.pool.stats();
    const inline = this.inline.stats();
    return {
      ...pool,
      active: pool.active + inline.active,
      firstTurn: { stayed: this.stayed, moved: this.moved, stopped: this.stopped, direct: { ...this.direct }, modules: inline['modules'] },
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.close(), this.inline.close()]);
  }
}
