import { disposePending } from '../sandbox/disposal.js';
import { isWasmAbort } from '../sandbox/errors.js';
import { ModulePool, type ModulePoolOptions } from '../sandbox/modules.js';
import { needsTypedArrays } from '../sandbox/intrinsics.js';
import { QuickJSSandbox } from '../sandbox/sandbox.js';
import type { SandboxFailure, SandboxHandle, SandboxListener, SandboxSpec, ToolSettlement } from '../sandbox/types.js';
import type { Executor, ExecutorStats } from './executor.js';
import { isServerRuntime } from '../util/runtime.js';

/**
 * Runs sandboxes on the calling thread. This is what a Durable Object uses (each has its own
 * isolate); on Node and Bun a script that spins holds this thread until its interrupt fires.
 */
export interface InlineExecutorOptions extends ModulePoolOptions {
  /**
   * Sandboxes (runtime + context + the session-independent globals) kept ready ahead of
   * need, refilled once the thread is idle. Each one serves a single session. Default 2 on
   * Node and Bun, 0 elsewhere (a Durable Object runs few sessions and pays for CPU).
   */
  prewarm?: number;
}

export class InlineExecutor implements Executor {
  readonly kind = 'inline';
  private readonly modules: ModulePool;
  private active = 0;
  private readonly prewarm: number;
  private readonly spares: QuickJSSandbox[] = [];
  private refillQueued = false;
  private awaitingModule = false;
  private closed = false;

  constructor(options: InlineExecutorOptions = {}) {
    const { prewarm, ...moduleOptions } = options;
    this.modules = new ModulePool(moduleOptions);
    this.modules.reclaim = disposePending;
    this.prewarm = Math.max(0, Math.floor(prewarm ?? (isServerRuntime() ? 2 : 0)));
  }

  start(spec: SandboxSpec, listener: SandboxListener): SandboxHandle {
    const now = this.startNow(spec, listener);
    if (now) return now;
    this.active++;
    const counted = this.counted(listener);
    const handle = new DeferredHandle();
    void Promise.resolve(this.modules.acquire()).then(
      (s) => handle.launch(new QuickJSSandbox(this.modules, s, spec, counted)),
      () => counted.onDone({ ok: false, error: { code: 'SANDBOX_CRASHED', message: 'the sandbox engine failed to load', recoverable: true } }),
    );
    return handle;
  }

  /**
   * Starts a sandbox and runs its code up to its first wait within this call, when a prepared
   * sandbox or an idle module is ready; undefined (nothing started) when one would have to load.
   * `guard`, when given, runs the start (see `QuickJSSandbox.startTrial`) and answers false if
   * it stopped it midway (see turn-guard.node.ts): the sandbox's module is then dropped as
   * crashed, and the sandbox ends with `SANDBOX_CRASHED`.
   */
  startNow(spec: SandboxSpec, listener: SandboxListener, guard?: (start: () => void) => boolean): SandboxHandle | undefined {
    // Spares are prepared without typed arrays (see intrinsics.ts).
    const spare = needsTypedArrays(spec.code) ? undefined : this.takeSpare();
    const slot = spare ? undefined : this.modules.acquireReady();
    if (!spare && !slot) return undefined;
    this.active++;
    const sandbox = spare ?? new QuickJSSandbox(this.modules, slot!, spec);
    const counted = this.counted(listener);
    if (!guard) sandbox.start(spec, counted);
    else if (!sandbox.startTrial(spec, counted, guard)) this.modules.crash(sandbox.slot, 'stopped by the watchdog of its thread');
    this.scheduleRefill();
    return sandbox;
  }

  /** The listener, with this executor's count of active sandboxes kept. */
  private counted(listener: SandboxListener): SandboxListener {
    const counted: SandboxListener = {
      onToolCall: (id, name, args) => listener.onToolCall(id, name, args),
      onStdout: (chunk) => listener.onStdout(chunk),
      onLog: (level, message) => listener.onLog(level, message),
      onDone: (outcome) => {
        this.active--;
        listener.onDone(outcome);
      },
    };
    if (listener.pollAbort) counted.pollAbort = () => listener.pollAbort!();
    if (listener.onGuest) counted.onGuest = (running) => listener.onGuest!(running);
    if (listener.onTimerSet) {
      counted.onTimerSet = (id, ms) => listener.onTimerSet!(id, ms);
      counted.onTimerCleared = (id) => listener.onTimerCleared?.(id);
    }
    return counted;
  }

  /** Loads modules and prepares the spare sandboxes, so that the next sessions start at once. */
  async warm(): Promise<void> {
    await this.modules.warm(this.prewarm + this.modules.spares);
    this.refill();
  }

  stats(): ExecutorStats {
    return {
      kind: this.kind,
      active: this.active,
      modules: this.modules.modulesCreated,
      modulesAlive: this.modules.modulesAlive,
      wasmHeapBytes: this.modules.heapBytes(),
    };
  }

  /** The WASM memories of the modules serving a sandbox now, for tests that damage one from outside. */
  busyMemoriesForTest(): WebAssembly.Memory[] {
    return this.modules.busyMemoriesForTest();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const spare of this.spares.splice(0)) if (!spare.slot.crashed) spare.discard();
    this.modules.close();
  }

  // ---- prepared sandboxes ----------------------------------------------------------------

  /** A prepared sandbox, if one is ready (each lives in a module of its own). */
  private takeSpare(): QuickJSSandbox | undefined {
    while (this.spares.length > 0) {
      const spare = this.spares.pop()!;
      if (!spare.slot.crashed) return spare;
    }
    return undefined;
  }

  private scheduleRefill(): void {
    if (this.refillQueued || this.prewarm === 0 || this.closed) return;
    this.refillQueued = true;
    const run = () => {
      this.refillQueued = false;
      this.refill(false);
    };
    if (typeof setImmediate === 'function') setImmediate(run);
    else setTimeout(run, 0);
  }

  /**
   * Prepares sandboxes up to `prewarm` in idle modules (never waits for a module to load).
   * From the idle-time refill, one per turn of the event loop, so that a request arriving
   * meanwhile waits for one preparation at most.
   */
  private refill(all = true): void {
    if (this.closed) return;
    for (let made = 0; this.spares.length < this.prewarm; made++) {
      if (!all && made > 0) {
        this.scheduleRefill();
        return;
      }
      const slot = this.modules.acquireReady();
      if (!slot) {
        // No idle module: load one, then go on (once at a time).
        if (!this.awaitingModule) {
          this.awaitingModule = true;
          void this.modules.warm().then(
            () => {
              this.awaitingModule = false;
              this.scheduleRefill();
            },
            () => (this.awaitingModule = false),
          );
        }
        return;
      }
      const spare = new QuickJSSandbox(this.modules, slot);
      try {
        spare.prepare();
      } catch (err) {
        if (isWasmAbort(err)) this.modules.crash(slot, err instanceof Error ? err.message : String(err));
        return;
      }
      this.spares.push(spare);
    }
  }
}

/** A handle whose sandbox is still being set up (a module is loading). */
class DeferredHandle implements SandboxHandle {
  private target: QuickJSSandbox | undefined;
  private aborted: SandboxFailure | undefined;
  /** Deadline moves asked for before the sandbox started. */
  private extension = 0;

  /** Points the handle at its sandbox before the sandbox runs, so calls made during the run land. */
  launch(sandbox: QuickJSSandbox): void {
    this.target = sandbox;
    if (this.aborted) {
      // Cancelled while loading: never run the code.
      sandbox.start();
      sandbox.abort(this.aborted);
      return;
    }
    sandbox.start();
    if (this.extension !== 0) sandbox.extendDeadline(this.extension);
  }

  settleTool(id: number, settlement: ToolSettlement): void {
    this.target?.settleTool(id, settlement);
  }

  fireTimer(id: number, at: number): void {
    this.target?.fireTimer(id, at);
  }

  extendDeadline(ms: number): void {
    if (this.target) this.target.extendDeadline(ms);
    else this.extension += ms;
  }

  abort(failure: SandboxFailure): void {
    if (this.target) this.target.abort(failure);
    else this.aborted ??= failure;
  }
}
