import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import { AGENT_FILE, prepareAgentCode } from './agent-code.js';
import { installDeterminism, type VirtualClock } from './determinism.js';
import { disposeWhenIdle } from './disposal.js';
import { classifyGuestError, classifyHostError, engineFailure, isWasmAbort, memoryLimit } from './errors.js';
import { installGlobals } from './globals.js';
import { GuestConsole } from './guest-console.js';
import { GuestJson, type Outcome } from './guest-json.js';
import { installFastHostCalls } from './host-calls.js';
import { InterruptPace } from './interrupt-pace.js';
import { intrinsicsFor, LEAN_INTRINSICS, needsTypedArrays } from './intrinsics.js';
import type { ModulePool, ModuleSlot } from './modules.js';
import { borrow, RawOps } from './raw.js';
import { GuestTimers } from './timers.js';
import { ToolCalls } from './tool-calls.js';
import { installToolNamespace } from './tool-namespace.js';
import type {
  SandboxFailure,
  SandboxHandle,
  SandboxListener,
  SandboxSpec,
  ToolSettlement,
} from './types.js';

export { disposePending } from './disposal.js';

/** Jobs run between two looks at whether the agent's function settled. */
const JOB_BATCH = 256;
/** Memory a sandbox's runtime, context and globals may take before its session's limit applies. */
const PREPARE_BYTES = 4 * 1024 * 1024;

/** A host input: a tool settlement, or a timer firing (`[timer, at]`). */
type Input = [number, ToolSettlement] | [number, number];

/**
 * One agent script in its own QuickJS runtime: the run loop. It creates the runtime and
 * context, applies the session's limits, runs the code, and enters the guest again for each
 * host input (a tool's result, a timer) until the agent's function settles or the session is
 * stopped. What the guest sees is elsewhere: its globals (globals.ts: `callTool` in
 * tool-calls.ts, timers in timers.ts, `console` in guest-console.ts), the JSON that crosses
 * the boundary (guest-json.ts), the classification of errors (errors.ts) and the freeing of
 * ended sandboxes (disposal.ts).
 */
export class QuickJSSandbox implements SandboxHandle {
  private runtime!: QuickJSRuntime;
  private ctx!: QuickJSContext;
  /** The engine operations on raw values (see raw.ts). */
  private raw!: RawOps;
  // The parts behind the guest's globals; absent when set-up failed before making them.
  private json!: GuestJson;
  private calls!: ToolCalls;
  private timers!: GuestTimers;
  private console!: GuestConsole;
  private pace!: InterruptPace;
  /** Handles that live as long as the context (determinism, the `tools` global). */
  private readonly owned: QuickJSHandle[] = [];
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
  /** Runtime, context and the spec-free globals exist (see `prepare`). */
  private prepared = false;
  /** The context has the typed arrays (see intrinsics.ts). */
  private typedArrays = false;
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

  /** Creates the runtime, installs the globals and runs the code up to its first wait. */
  start(spec?: SandboxSpec, listener?: SandboxListener): void {
    if (spec) this.spec = spec;
    if (listener) this.listener = listener;
    this.deadline = Date.now() + this.spec.limits.timeoutMs;
    try {
      if (!this.prepared) this.prepare();
      else if (!this.typedArrays && needsTypedArrays(this.spec.code)) {
        throw new Error('a sandbox prepared without typed arrays was given a script that names them');
      }
      this.applySpec();
    } catch (err) {
      this.fail(err);
      return;
    }
    this.armDeadline();
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
    const call = this.calls.take(id);
    if (!call) return;
    if (settlement.at !== undefined) this.clock?.advance(settlement.at);
    this.enter(() => this.calls.settle(call, settlement));
  }

  /**
   * Runs timer `id`: when its host timer comes due, or when the listener fires it (moving the
   * virtual clock to `at` first). One cleared or fired already is ignored, clock included.
   */
  private fire(id: number, at?: number): void {
    if (this.ended || !this.timers.has(id)) return;
    if (this.pastDeadline()) return;
    const timer = this.timers.take(id)!;
    if (at !== undefined) this.clock?.advance(at);
    this.enter(() => this.timers.run(timer));
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
    // Room for the runtime, the context and the globals; the session's own limit comes in `applySpec`.
    this.slot.memory.allow(PREPARE_BYTES);
    const runtime = this.slot.module.newRuntime();
    this.runtime = runtime;
    runtime.setInterruptHandler(() => this.interrupted());
    // A spare, prepared before its session is known, gets the lean set (see intrinsics.ts).
    const intrinsics = this.spec ? intrinsicsFor(this.spec.code) : LEAN_INTRINSICS;
    this.typedArrays = intrinsics.TypedArrays === true;
    const ctx = runtime.newContext({ intrinsics });
    this.ctx = ctx;
    this.pace = new InterruptPace(this.pool, ctx, this.slot.memory);
    const raw = RawOps.create(ctx);
    if (!raw || !installFastHostCalls(ctx)) throw new Error('this quickjs-emscripten-core version is not supported (see package.json)');
    this.raw = raw;
    const json = (this.json = GuestJson.capture(ctx, raw));
    const limits = () => this.spec.limits;
    const listener = () => this.listener;
    this.console = new GuestConsole(ctx, json, {
      limits,
      listener,
      quiet: () => this.stop !== undefined || this.outcome !== undefined || this.mainSettled(),
      stop: (failure) => {
        this.stop = failure;
      },
    });
    this.calls = new ToolCalls(ctx, raw, json, { limits, listener, flushStdout: () => this.console.flush() });
    this.timers = new GuestTimers(ctx, { deadline: () => this.deadline, due: (id) => this.fire(id) });
    installGlobals(ctx, raw, { calls: this.calls, timers: this.timers, console: this.console });
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
    this.pace.checked();
    return false;
  }

  /** Disposes a prepared sandbox that never started. */
  discard(): void {
    if (this.ended) return;
    this.ended = true;
    this.dispose();
  }

  /** The session's own part: limits, then the frozen `context` global. */
  private applySpec(): void {
    const { limits } = this.spec;
    const runtime = this.runtime;
    const ctx = this.ctx;
    runtime.setMemoryLimit(limits.memoryLimitBytes);
    // What bounds the total: the module's memory (its runtime, context and globals included)
    // may grow by the limit past its starting size, and no more. At the
    // ceiling, the guest's next interrupt poll comes at once (see interrupt-counter.ts).
    this.slot.memory.limit(this.slot.baseBytes + limits.memoryLimitBytes);
    const counter = this.pool.interruptCounter;
    if (counter) this.slot.memory.onRefused = () => counter.trip(ctx, this.slot.memory);
    runtime.setMaxStackSize(Math.min(limits.maxStackBytes, this.pool.maxStackBytes));
    if (this.spec.determinism) {
      this.clock = installDeterminism(ctx, this.raw, this.spec.determinism, (h) => this.owned.push(h));
      // Timer firings are inputs of a deterministic session: the listener decides when they happen.
      if (this.listener.onTimerSet) this.timers.reportToListener();
    }
    if (this.spec.toolNamespace) {
      installToolNamespace(ctx, this.raw, this.spec.toolNamespace, (h) => this.owned.push(h));
    }

    this.json.installContext(this.spec.contextJson);
  }

  private compileAndRun() {
    const ctx = this.ctx;
    // Parsed on the host first: code that would close the wrapper early never reaches QuickJS.
    const prepared = prepareAgentCode(this.spec.code);
    if (!prepared.ok) {
      this.outcome = prepared.failure;
      return undefined;
    }
    const compiled = ctx.evalCode(prepared.source, AGENT_FILE);
    if (compiled.error) {
      const info = this.json.readError(compiled.error);
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
    const outer = this.depth++ === 0;
    if (outer) {
      this.pace.enter();
      this.listener.onGuest?.(true);
    }
    try {
      const result = fn();
      if (result) {
        if (result.error) {
          const info = this.json.readError(result.error);
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
    this.console.flush();
    // A guest stopped at the memory ceiling may have left the engine mid-allocation: its
    // module is dropped. One stopped by an interrupt (deadline, cancel, output limits) is
    // freed and its module reused; should freeing abort the module, only this sandbox's goes.
    if (this.stop?.code === 'MEMORY_LIMIT') this.tainted = true;
    const outcome = this.stop ?? this.outcome;
    if (outcome) {
      this.finish(outcome);
      return;
    }
    if (this.timers.reporting && this.depth === 0) this.timers.report(this.listener);
    if (this.depth === 0 && !this.settling && this.deferred.length > 0) this.input(this.deferred.shift()!);
  }

  /**
   * Runs pending jobs in batches, looking after each batch whether the agent's function
   * settled: jobs still queued then (a microtask flood left behind) are dropped with the
   * runtime, and the result stands.
   */
  private drainJobs(): void {
    for (;;) {
      const res = this.raw.executePendingJobs(JOB_BATCH);
      if (res.error) {
        const info = this.json.readError(res.error);
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
    return this.main !== undefined && this.raw.promiseState(borrow(this.main)) !== 0;
  }

  /** Looks whether the agent's async function settled, and takes its result if so. */
  private checkMain(): void {
    const main = this.main;
    if (!main || this.raw.promiseState(borrow(main)) === 0) return;
    const state = this.ctx.getPromiseState(main);
    if (state.type === 'pending') return;
    if (state.type === 'fulfilled' && state.notAPromise) {
      this.outcome = { code: 'RUNTIME_ERROR', message: 'the code broke out of the async function it runs in' };
      return;
    }
    if (state.type === 'rejected') {
      const info = this.json.readError(state.error);
      state.error.dispose();
      this.outcome = classifyGuestError(info, 'run');
      return;
    }
    const value = state.value;
    try {
      this.outcome = this.json.result(value, this.spec.limits);
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
    this.timers?.stopHostTimers();
    // Nothing enters the guest once `ended` is set: freeing the runtime can wait until the
    // thread is idle, after the outcome went out (see disposal.ts).
    if (this.tainted) this.dispose();
    else disposeWhenIdle(this);
    // A spare (prepared, never started) has no listener.
    if (!this.listener) return;
    if ('ok' in outcome) this.listener.onDone(outcome);
    else this.listener.onDone({ ok: false, error: outcome });
  }

  /** Frees the runtime (see `finish`). A module that crashed meanwhile is let go as a whole. */
  dispose(): void {
    this.timers?.stopHostTimers();
    if (this.disposed) return;
    this.disposed = true;
    if (this.slot.crashed) return;
    if (this.tainted) {
      // Disposing a runtime after out-of-memory or an interrupted job can abort the module
      // (quickjs-emscripten #257/#269). The module is this sandbox's alone: it is dropped
      // whole, its memory with it.
      this.pool.release(this.slot, false);
      return;
    }
    let clean = false;
    try {
      this.timers?.dispose();
      this.calls?.dispose();
      this.main?.dispose();
      this.console?.dispose();
      this.json?.dispose();
      for (const h of this.owned) h.dispose();
      this.raw?.dispose();
      this.ctx?.dispose();
      this.runtime?.dispose();
      clean = true;
    } catch (err) {
      if (isWasmAbort(err)) this.pool.crash(this.slot, err instanceof Error ? err.message : String(err));
    } finally {
      if (!this.slot.crashed) this.pool.release(this.slot, clean);
    }
  }
}
