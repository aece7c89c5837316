import type { QuickJSHandle } from 'quickjs-emscripten-core';
import { AGENT_FILE, prepareAgentCode } from './agent-code.js';
import type { VirtualClock } from './determinism.js';
import { disposeWhenIdle, releaseModule } from './disposal.js';
import { SandboxEngine } from './engine.js';
import { classifyGuestError, classifyHostError, engineFailure, memoryLimit } from './errors.js';
import type { Outcome } from './guest-json.js';
import { needsTypedArrays } from './intrinsics.js';
import type { ModulePool, ModuleSlot } from './modules.js';
import { borrow } from './raw.js';
import type { SandboxFailure, SandboxHandle, SandboxListener, SandboxSpec, ToolSettlement } from './types.js';

/** Jobs run between two looks at whether the agent's function settled. */
const JOB_BATCH = 256;

/** A host input: a tool settlement, or a timer firing (`[timer, at]`). */
type Input = [number, ToolSettlement] | [number, number];

/**
 * One agent script in its own QuickJS runtime: the run loop. It runs the code, and enters the
 * guest again for each host input (a tool's result, a timer) until the agent's function
 * settles or the session is stopped. What it runs in is elsewhere: the runtime, context and
 * globals (engine.ts; `callTool` in tool-calls.ts, timers in timers.ts, `console` in
 * guest-console.ts), the JSON that crosses the boundary (guest-json.ts), the classification
 * of errors (errors.ts) and the freeing of ended sandboxes (disposal.ts).
 */
export class QuickJSSandbox implements SandboxHandle {
  /** The runtime, context and globals (see `prepare`); absent until made, or when making them failed. */
  private engine: SandboxEngine | undefined;
  /** The promise of the agent's async function. */
  private main: QuickJSHandle | undefined;
  private deadline = Infinity;
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set when the host decided the guest must stop; the interrupt handler reads it. */
  private stop: SandboxFailure | undefined;
  private outcome: Outcome | undefined;
  private ended = false;
  private depth = 0;
  /** Host inputs that arrived while the guest was on the stack or while inputs were being applied. */
  private deferred: Input[] = [];
  /** Deferred inputs are being applied (see `input`). */
  private settling = false;
  /** The runtime may be unsafe to dispose (out of memory, a crash): its module is dropped instead. */
  private tainted = false;
  private disposed = false;
  /** Runtime, context and the spec-free globals were made (see `prepare`). */
  private prepared = false;
  private spec!: SandboxSpec;
  private listener!: SandboxListener;
  /** The session's virtual clock when it is durable (see determinism.ts). */
  private clock: VirtualClock | undefined;

  /**
   * `spec` and `listener` may be given here or to `start()`. A sandbox without them can be
   * `prepare()`d ahead of need; it serves exactly one session, then is disposed.
   */
  constructor(
    private readonly pool: ModulePool,
    readonly slot: ModuleSlot,
    spec?: SandboxSpec,
    listener?: SandboxListener,
  ) {
    if (spec) this.spec = spec;
    if (listener) this.listener = listener;
    pool.bind(slot, this);
  }

  /**
   * Set by `startTrial` while its start runs: no host timer is armed or cleared and no disposal
   * is scheduled, so that nothing of the host's own scheduling is touched from inside the run.
   */
  private trial = false;
  /** A trial ended with its runtime still to free: `startTrial` schedules it once out of `run`. */
  private disposalDeferred = false;

  /**
   * Runs `start()` inside `run` (a watchdog that may stop it anywhere, see
   * pool/turn-guard.node.ts) touching nothing of the host's scheduling (timers, the idle-time
   * disposal queue) while inside: whatever it would have scheduled is scheduled after `run`
   * returns. Answers what `run` answered; when false, the caller drops this sandbox's module.
   */
  startTrial(spec: SandboxSpec, listener: SandboxListener, run: (start: () => void) => boolean): boolean {
    this.trial = true;
    let finished: boolean;
    try {
      finished = run(() => this.start(spec, listener));
    } finally {
      this.trial = false;
    }
    if (!finished) return false;
    if (this.disposalDeferred) {
      this.disposalDeferred = false;
      disposeWhenIdle(this);
    } else if (!this.ended) this.armDeadline();
    return true;
  }

  /** Creates the runtime, installs the globals and runs the code up to its first wait. */
  start(spec?: SandboxSpec, listener?: SandboxListener): void {
    if (spec) this.spec = spec;
    if (listener) this.listener = listener;
    this.deadline = Date.now() + this.spec.limits.timeoutMs;
    try {
      if (!this.prepared) this.prepare();
      else if (!this.engine?.typedArrays && needsTypedArrays(this.spec.code)) {
        throw new Error('a sandbox prepared without typed arrays was given a script that names them');
      }
      this.clock = this.engine!.applySpec(this.spec, this.listener);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!this.trial) this.armDeadline();
    this.enter(() => this.compileAndRun());
  }

  /** The host timer that ends the session at its deadline while it waits (tools, timers). */
  private armDeadline(): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.abort(this.timeout()), Math.max(0, this.deadline - Date.now()));
  }

  private timeout(): SandboxFailure {
    return { code: 'TIMEOUT', message: `execution exceeded ${this.spec.limits.timeoutMs} ms` };
  }

  settleTool(id: number, settlement: ToolSettlement): void {
    this.input([id, settlement]);
  }

  extendDeadline(ms: number): void {
    if (this.ended || !Number.isFinite(ms) || ms === 0 || this.deadline === Infinity) return;
    this.deadline += ms;
    this.armDeadline();
  }

  /** Fires a timer the listener runs (see `onTimerSet`), moving the clock to `at` first. */
  fireTimer(id: number, at: number): void {
    this.input([id, at]);
  }

  /**
   * Applies a host input (a tool settlement, or a timer firing `[timer, at]`), then those that
   * arrived meanwhile, in order: a loop, not recursion, so a re-run fed thousands of journaled
   * inputs stays flat. One that arrives while the guest is on the stack (a tool that answered
   * synchronously) or while inputs are being applied waits its turn in `deferred`.
   */
  private input(entry: Input): void {
    if (this.ended) return;
    if (this.depth > 0 || this.settling) {
      this.deferred.push(entry);
      return;
    }
    this.settling = true;
    try {
      for (let next: Input | undefined = entry; next && !this.ended; next = this.deferred.shift()) {
        const [id, value] = next;
        if (typeof value === 'number') this.fire(id, value);
        else this.applySettlement(id, value);
      }
    } finally {
      this.settling = false;
    }
  }

  private applySettlement(id: number, settlement: ToolSettlement): void {
    const calls = this.engine!.calls;
    const call = calls.take(id);
    if (!call) return;
    if (settlement.at !== undefined) this.clock?.advance(settlement.at);
    this.enter(() => calls.settle(call, settlement));
  }

  /**
   * Runs timer `id`: when its host timer comes due, or when the listener fires it (moving the
   * virtual clock to `at` first). One cleared or fired already is ignored, clock included.
   */
  private fire(id: number, at?: number): void {
    if (this.ended) return;
    const timers = this.engine!.timers;
    if (!timers.has(id)) return;
    if (this.pastDeadline()) return;
    const timer = timers.take(id)!;
    if (at !== undefined) this.clock?.advance(at);
    this.enter(() => timers.run(timer));
  }

  /**
   * A timer that comes due once the deadline has passed (its host timer, or the listener's,
   * ran late) ends the session with TIMEOUT instead of running: true then.
   */
  private pastDeadline(): boolean {
    if (Date.now() <= this.deadline) return false;
    this.abort(this.timeout());
    return true;
  }

  abort(failure: SandboxFailure): void {
    if (this.ended) return;
    this.stop ??= failure;
    // Inside a guest call the interrupt handler stops it; otherwise end now.
    if (this.depth === 0) this.finish(this.stop);
  }

  /** The module this sandbox lives in aborted. */
  crash(reason: string): void {
    if (this.ended) return;
    this.tainted = true;
    this.finish(engineFailure(reason));
  }

  // ---- set-up ---------------------------------------------------------------------------

  /**
   * Creates the runtime and context and installs the globals that do not depend on the
   * session (everything but `context`). Nothing of the guest runs here; the limits, the
   * interrupt deadline and `context` are applied by `start()`.
   */
  prepare(): void {
    if (this.prepared) return;
    this.prepared = true;
    this.engine = new SandboxEngine(this.pool, this.slot, this.spec?.code, {
      limits: () => this.spec.limits,
      listener: () => this.listener,
      quiet: () => this.stop !== undefined || this.outcome !== undefined || this.mainSettled(),
      stop: (failure) => {
        this.stop = failure;
      },
      deadline: () => this.deadline,
      due: (id) => this.fire(id),
      interrupted: () => this.interrupted(),
    });
  }

  /** The interrupt handler, called while guest code runs: true stops the guest. */
  private interrupted(): boolean {
    if (this.stop === undefined && this.slot.memory.refused) this.stop = memoryLimit();
    if (this.stop === undefined && this.listener?.pollAbort) this.stop = this.listener.pollAbort();
    if (this.stop) return true;
    if (Date.now() > this.deadline) {
      this.stop = this.timeout();
      return true;
    }
    this.engine?.pace.checked();
    return false;
  }

  /** Disposes a prepared sandbox that never started. */
  discard(): void {
    if (this.ended) return;
    this.ended = true;
    this.dispose();
  }

  private compileAndRun() {
    const { ctx, json } = this.engine!;
    // Parsed on the host first: code that would close the wrapper early never reaches QuickJS.
    const prepared = prepareAgentCode(this.spec.code);
    if (!prepared.ok) {
      this.outcome = prepared.failure;
      return undefined;
    }
    const compiled = ctx.evalCode(prepared.source, AGENT_FILE);
    if (compiled.error) {
      const info = json.readError(compiled.error);
      compiled.error.dispose();
      this.outcome = this.stop ?? classifyGuestError(info, 'compile');
      return undefined;
    }
    const fn = compiled.value;
    const called = ctx.callFunction(fn, ctx.undefined);
    fn.dispose();
    if (called.error) return called;
    this.main = called.value;
    return undefined;
  }

  // ---- running --------------------------------------------------------------------------

  /**
   * Runs one entry into the guest, then its pending jobs, then settles what it led to.
   * A WASM abort here takes the whole module down (and every sandbox in it).
   */
  private enter(fn: () => { error?: QuickJSHandle; value?: QuickJSHandle } | undefined): void {
    const engine = this.engine!;
    const outer = this.depth++ === 0;
    if (outer) {
      engine.pace.enter();
      this.listener.onGuest?.(true);
    }
    try {
      const result = fn();
      if (result) {
        if (result.error) {
          const info = engine.json.readError(result.error);
          result.error.dispose();
          this.outcome ??= this.stop ?? classifyGuestError(info, 'run');
        } else {
          result.value?.dispose();
        }
      }
      if (!this.outcome && !this.stop) this.checkMain();
      if (!this.outcome && !this.stop) this.drainJobs();
      // An allocation refused at the memory ceiling ends the session, caught by the guest or not.
      if (this.slot.memory.refused) this.stop ??= memoryLimit();
    } catch (err) {
      this.depth--;
      if (outer) this.listener.onGuest?.(false);
      this.fail(err);
      return;
    }
    this.depth--;
    if (outer) this.listener.onGuest?.(false);
    engine.console.flush();
    // A guest stopped at the memory ceiling may have left the engine mid-allocation: its
    // module is dropped. One stopped by an interrupt (deadline, cancel, output limits) is
    // freed and its module reused; should freeing abort the module, only this sandbox's goes.
    if (this.stop?.code === 'MEMORY_LIMIT') this.tainted = true;
    const outcome = this.stop ?? this.outcome;
    if (outcome) {
      this.finish(outcome);
      return;
    }
    if (engine.timers.reporting && this.depth === 0) engine.timers.report(this.listener);
    if (this.depth === 0 && !this.settling && this.deferred.length > 0) this.input(this.deferred.shift()!);
  }

  /**
   * Runs pending jobs in batches, looking after each batch whether the agent's function
   * settled: jobs still queued then (a microtask flood left behind) are dropped with the
   * runtime, and the result stands.
   */
  private drainJobs(): void {
    const { raw, json } = this.engine!;
    for (;;) {
      const res = raw.executePendingJobs(JOB_BATCH);
      if (res.error) {
        const info = json.readError(res.error);
        res.error.dispose();
        this.outcome ??= this.stop ?? classifyGuestError(info, 'run');
        return;
      }
      if (this.outcome || this.stop) return;
      this.checkMain();
      if (res.value === 0 || this.outcome) return;
    }
  }

  private mainSettled(): boolean {
    return this.main !== undefined && this.engine!.raw.promiseState(borrow(this.main)) !== 0;
  }

  /** Looks whether the agent's async function settled, and takes its result if so. */
  private checkMain(): void {
    const main = this.main;
    const { ctx, raw, json } = this.engine!;
    if (!main || raw.promiseState(borrow(main)) === 0) return;
    const state = ctx.getPromiseState(main);
    if (state.type === 'pending') return;
    if (state.type === 'fulfilled' && state.notAPromise) {
      this.outcome = { code: 'RUNTIME_ERROR', message: 'the code broke out of the async function it runs in' };
      return;
    }
    if (state.type === 'rejected') {
      const info = json.readError(state.error);
      state.error.dispose();
      this.outcome = classifyGuestError(info, 'run');
      return;
    }
    const value = state.value;
    try {
      this.outcome = json.result(value, this.spec.limits);
    } finally {
      if (value !== main) value.dispose();
    }
  }

  // ---- ending ---------------------------------------------------------------------------

  /** Ends the session after an exception escaped the engine (see `classifyHostError`). */
  private fail(err: unknown): void {
    const { failure, moduleCrash } = classifyHostError(err, this.slot.memory.refused, this.stop);
    // Whatever it was, the runtime may be unsafe to free: its module is dropped with it.
    this.tainted = true;
    this.finish(failure);
    if (moduleCrash !== undefined) this.pool.crash(this.slot, moduleCrash);
  }

  private finish(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    if ('code' in outcome && (outcome.code === 'MEMORY_LIMIT' || outcome.code === 'SANDBOX_CRASHED')) this.tainted = true;
    this.engine?.timers.stopHostTimers();
    // Nothing enters the guest once `ended` is set: freeing the runtime can wait until the
    // thread is idle, after the outcome went out (see disposal.ts).
    if (this.tainted) this.dispose();
    else if (this.trial) this.disposalDeferred = true;
    else disposeWhenIdle(this);
    // A spare (prepared, never started) has no listener.
    if (!this.listener) return;
    if ('ok' in outcome) this.listener.onDone(outcome);
    else this.listener.onDone({ ok: false, error: outcome });
  }

  /** Frees the runtime (see `finish`). A module that crashed meanwhile is let go as a whole. */
  dispose(): void {
    this.engine?.timers.stopHostTimers();
    if (this.disposed) return;
    this.disposed = true;
    releaseModule(this.pool, this.slot, this.tainted, () => {
      this.main?.dispose();
      this.engine?.dispose();
    });
  }
}
