import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { setPriority } from 'node:os';
import { ABORT_SLOTS, BELL_TO_MAIN, BELL_TO_WORKER, MAX_NESTED, type FromWorker, type SandboxCommand, type ToWorker } from './messages.js';
import type { ResolvedPoolOptions } from './options.js';
import type { RemoteSandbox, SandboxHost } from './remote-sandbox.js';
import type { WorkerBootData } from './worker.node.js';
import { workerEntry } from './worker-url.node.js';
import { Doorbell } from './doorbell.node.js';
import { runtime } from '../util/runtime.js';

export interface SlotEvents {
  onReady(slot: WorkerSlot): void;
  /** The thread is gone (exited, crashed or killed); every sandbox on it has been ended. */
  onGone(slot: WorkerSlot, reason: string): void;
}

/** One worker thread: its sandboxes, its heartbeat and how busy it has been. */
export class WorkerSlot implements SandboxHost {
  readonly worker: Worker;
  readonly sandboxes = new Map<number, RemoteSandbox>();
  ready = false;
  gone = false;
  /** Removed by scale-down: not replaced when it exits. */
  retired = false;
  /** Stuck at a low CPU priority after a spinning guest (see worker.node.ts): replace when idle. */
  lowPriority = false;
  /** Utilisation over the last sampling interval (0..1). */
  utilisation = 0;
  readonly startedAt = Date.now();
  private lastHeartbeat = Date.now();
  private eluMark: EventLoopUtilization | undefined;
  private gapMark = Date.now();
  private gapBusyMs = 0;
  private readonly waiting: Array<() => void> = [];
  /** Abort flags shared with the worker, read by its interrupt handler. */
  private readonly flags = new Int32Array(new SharedArrayBuffer(4 * ABORT_SLOTS));
  /**
   * Written by the worker: [0] when it entered guest code (0 while it is not in it), [1] total
   * ms it spent looking for this thread's answers, [2] when its guest code last reached an
   * interrupt poll, [3] how many sandboxes run inside others' interrupts, [4] 1 while it runs at
   * a low priority for a spinning guest (see worker.node.ts).
   */
  private readonly guest = new Float64Array(new SharedArrayBuffer(40));
  /** The worker thread's id (Linux), and whether raising its priority from here works. */
  private tid: number | undefined;
  private canRaise = true;
  /** The hot channel's two doorbells (see doorbell.node.ts). */
  private readonly bells = new Int32Array(new SharedArrayBuffer(8));
  private readonly toWorker = new Doorbell(this.bells, BELL_TO_WORKER);
  private readonly fromWorker = new Doorbell(this.bells, BELL_TO_MAIN);
  /** `guest[1]` at the last utilisation sample. */
  private awaitMark = 0;
  private readonly freeSlots = Array.from({ length: ABORT_SLOTS }, (_, i) => ABORT_SLOTS - 1 - i);
  private readonly slotOf = new Map<number, number>();
  /** `start`/`settle` messages sent and not yet handled by the worker. */
  private outstanding = 0;
  /**
   * The same commands in the order sent: the sandbox for a `start`, null for a `settle`. The
   * worker handles them in order, so its acks say which sandboxes have started.
   */
  private unacked: (RemoteSandbox | null)[] = [];
  /** When the worker last made progress on outstanding messages. */
  private progressAt = Date.now();
  /**
   * The channel of commands and events (Node): a port this thread can read synchronously, so
   * that it can look for the worker's answer before its event loop goes to sleep (see `poll`).
   * Absent on Bun: commands and events go through the worker object itself.
   */
  private readonly port: MessagePort | undefined;
  /** Until when (`performance.now()`) this thread looks for the worker's answer (see `poll`). */
  private hotUntil = 0;
  private polling = false;

  constructor(
    readonly index: number,
    private readonly options: ResolvedPoolOptions,
    wasm: Promise<WebAssembly.Module | undefined>,
    private readonly events: SlotEvents,
  ) {
    const channel = HOT_CHANNEL ? new MessageChannel() : undefined;
    this.port = channel?.port1;
    const boot: WorkerBootData = {
      ...(channel ? { port: channel.port2 } : {}),
      flags: this.flags.buffer as SharedArrayBuffer,
      guest: this.guest.buffer as SharedArrayBuffer,
      bells: this.bells.buffer as SharedArrayBuffer,
      heartbeatMs: options.heartbeatMs,
      maxEventsPerSandbox: options.maxEventsPerSandbox,
      handoffSpinMs: options.handoffSpinMs,
      ...(options.sandboxesPerModule ? { sandboxesPerModule: options.sandboxesPerModule } : {}),
    };
    this.worker = new Worker(workerEntry(), {
      workerData: boot,
      // A large thread stack lets sandboxes have the full 256 KiB QuickJS stack: the engine's
      // native recursion (deep JSON, parser nesting) runs on this thread's own stack.
      // Sandboxes started inside another's interrupt stack their frames on the same thread.
      resourceLimits: { stackSizeMb: 64, ...options.resourceLimits },
      ...(channel ? { transferList: [channel.port2] } : {}),
    });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.port?.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.die(`worker error: ${err instanceof Error ? err.message : String(err)}`));
    this.worker.on('exit', (code) => this.die(`worker exited with code ${code}`));
    void wasm.then((module) => this.sendInit(module));
  }

  get active(): number {
    return this.sandboxes.size;
  }

  /**
   * Running guest code right now (or stuck): in guest code for over 5 ms (the worker's own
   * flag), a `start`/`settle` unanswered for over 500 ms, or no heartbeat for two periods.
   * (A worker working through a long queue of short sessions answers slowly but is not stuck:
   * adding threads past the cores would only slow every one of them.)
   */
  stalled(now = Date.now()): boolean {
    if (!this.ready) return false;
    const since = this.guest[0]!;
    if (since > 0 && now - since > GUEST_BUSY_MS) return true;
    if (this.outstanding > 0 && now - this.progressAt > UNANSWERED_MS) return true;
    return now - this.lastHeartbeat > 2 * this.options.heartbeatMs + STALL_MS;
  }

  /**
   * Running guest code that reaches its interrupt polls: such a worker takes new commands
   * inside the guest's interrupt within a millisecond or two (see `takeNestedWork` in
   * worker.node.ts). A worker inside a long native built-in (no poll) is not responsive.
   */
  responsive(now = Date.now()): boolean {
    return HOT_CHANNEL && this.ready && !this.gone && this.guest[0]! > 0 && now - this.guest[2]! <= RESPONSIVE_MS && this.guest[3]! < MAX_NESTED;
  }

  /** Running guest code that does not reach its interrupt (a native built-in): it takes no work now. */
  stuck(now = Date.now()): boolean {
    return this.stalled(now) && !this.responsive(now);
  }

  /** Milliseconds the worker spent looking for tool results before sleeping (see worker.node.ts). */
  get awaitedMs(): number {
    return this.guest[1]!;
  }

  /** Messages the worker has not handled yet (a hint of how busy it is). */
  get backlog(): number {
    return this.outstanding;
  }

  start(sandbox: RemoteSandbox): void {
    this.sandboxes.set(sandbox.id, sandbox);
    const slot = this.freeSlots.pop();
    if (slot !== undefined) {
      Atomics.store(this.flags, slot, 0);
      this.slotOf.set(sandbox.id, slot);
    }
    sandbox.begin();
  }

  // ---- SandboxHost ---------------------------------------------------------------------

  post(message: SandboxCommand): void {
    if (this.gone) return;
    /** The worker has nothing of ours to work on: it waits for this command, or sleeps. */
    const waiting = this.outstanding === 0;
    if (message.t === 'start' || message.t === 'settle' || message.t === 'fire') {
      if (this.outstanding++ === 0) this.progressAt = Date.now();
      this.unacked.push(message.t === 'start' ? (this.sandboxes.get(message.id) ?? null) : null);
    }
    if (message.t === 'start') {
      message = { ...message, slot: this.slotOf.get(message.id) ?? -1 };
    } else if (message.t === 'abort') {
      // Read by the worker's interrupt handler even while guest code holds its thread.
      const slot = this.slotOf.get(message.id);
      if (slot !== undefined) Atomics.store(this.flags, slot, 1);
    }
    // Sent once this turn of the event loop is over, with every other command of the turn (one
    // message and one wake-up for them all): the sessions of requests that arrived together
    // start with one wake-up of the worker. A tool result or timer firing for a worker with
    // nothing of ours to do goes once the current task's microtasks are done: the worker is
    // looking for it (see awaitHost in worker.node.ts), and a turn of this event loop takes
    // longer than the worker needs to answer it.
    this.outbox.push(message);
    if (this.outbox.length === 1) {
      if (this.port && waiting && message.t !== 'start') queueMicrotask(this.flushOutbox);
      else setImmediate(this.flushOutbox);
    }
  }

  private outbox: SandboxCommand[] = [];
  private readonly flushOutbox = (): void => {
    const list = this.outbox;
    this.outbox = [];
    if (this.gone || list.length === 0) return;
    this.toWorker.post(this.port ?? this.worker, { t: 'cmds', list } satisfies ToWorker);
    this.wake();
    // After a tool result the guest usually answers within microseconds (its next tool call or
    // its end); a session's start takes longer, and is not waited for this way.
    const spin = this.options.handoffSpinMs;
    if (spin > 0 && this.port && this.outstanding > 0 && list.some((c) => c.t === 'settle' || c.t === 'fire')) {
      this.hotUntil = performance.now() + spin;
      if (!this.polling) {
        this.polling = true;
        setImmediate(this.poll);
      }
    }
  };

  /**
   * Reads the worker's answers as they arrive, for up to `handoffSpinMs` after a tool result was sent,
   * instead of letting the event loop sleep until the worker's message wakes it: waking a
   * sleeping thread costs far more than a tool call's round trip. One look per turn of the
   * event loop: I/O and timers run in between as usual.
   */
  private readonly poll = (): void => {
    const port = this.port;
    if (!port || this.gone) {
      this.polling = false;
      return;
    }
    let received = false;
    for (let m = this.fromWorker.receive(port); m; m = this.fromWorker.receive(port)) {
      received = true;
      this.onMessage(m.message as FromWorker);
    }
    // An answer often leads to the next command at once (a tool result after a tool call).
    if (received) this.hotUntil = performance.now() + this.options.handoffSpinMs;
    if (this.outstanding > 0 && performance.now() < this.hotUntil) setImmediate(this.poll);
    else this.polling = false;
  };

  /**
   * A worker lowered for a spinning guest takes the command inside that guest's interrupt
   * (see takeNestedWork in worker.node.ts), but only once the scheduler gives its thread the
   * CPU, which at the lowest priority can take a hundred milliseconds on a busy machine: its
   * priority goes back to normal now (the worker lowers it again if the guest keeps spinning).
   * Raising a priority needs a privilege (CAP_SYS_NICE); without it, this is not tried again.
   */
  private wake(): void {
    if (this.tid === undefined || !this.canRaise || this.guest[4] !== 1) return;
    try {
      setPriority(this.tid, 0);
      this.guest[4] = 0;
    } catch {
      this.canRaise = false;
    }
  }

  whenReady(fn: () => void): void {
    if (this.ready) fn();
    else this.waiting.push(fn);
  }

  kill(reason: string): void {
    this.die(reason);
  }

  /**
   * A sandbox here outlived its deadline or abort (it has been ended on this side). Its guest
   * may be held beneath another started inside its interrupt (the worker is responsive): it
   * stops as soon as it runs again. Otherwise it is inside a native built-in that ignores the
   * interrupt: alone on the worker, the thread is terminated at once; with other sessions on
   * it, the thread is given up to `STUCK_PATIENCE_MS` to come back (a built-in bounded by the
   * memory limit ends within seconds), so that sessions waiting on tools there are not lost,
   * and terminated after that. New sessions go elsewhere meanwhile.
   */
  overdue(reason: string): void {
    if (this.gone || this.responsive()) return;
    if (this.sandboxes.size === 0) return this.die(reason);
    if (this.patience !== undefined) return;
    const since = Date.now();
    this.patience = setInterval(() => {
      const now = Date.now();
      // Back (its guest gave the thread up or polls again), or gone meanwhile: nothing to do.
      if (this.gone || this.guest[0] === 0 || this.responsive(now)) return this.endPatience();
      if (this.sandboxes.size === 0 || now - since > STUCK_PATIENCE_MS) {
        this.endPatience();
        this.die(reason);
      }
    }, 50);
    this.patience.unref?.();
  }

  private endPatience(): void {
    if (this.patience !== undefined) clearInterval(this.patience);
    this.patience = undefined;
  }

  private patience: ReturnType<typeof setInterval> | undefined;

  release(sandbox: RemoteSandbox): void {
    this.sandboxes.delete(sandbox.id);
    const slot = this.slotOf.get(sandbox.id);
    if (slot !== undefined) {
      this.slotOf.delete(sandbox.id);
      this.freeSlots.push(slot);
    }
  }

  // ---- utilisation ---------------------------------------------------------------------

  /**
   * Fraction of the time since the last sample the worker's event loop was not idle. With
   * `worker.performance` (Node) this is the worker's event-loop utilisation read from this
   * thread, which counts a guest spinning synchronously as busy. Without it (runtimes that
   * lack the API), late heartbeats are counted as busy time instead.
   */
  sample(now = Date.now()): number {
    const perf = workerPerformance(this.worker);
    if (perf?.eventLoopUtilization) {
      const elu = this.eluMark ? perf.eventLoopUtilization(this.eluMark) : undefined;
      this.eluMark = perf.eventLoopUtilization();
      // Time spent looking for this thread's answers is waiting, not work.
      const awaited = this.guest[1]! - this.awaitMark;
      this.awaitMark = this.guest[1]!;
      const span = elu ? elu.idle + elu.active : 0;
      this.utilisation = span > 0 ? clamp((elu!.active - awaited) / span) : 0;
      return this.utilisation;
    }
    const span = now - this.gapMark;
    const current = Math.max(0, now - this.lastHeartbeat - this.options.heartbeatMs);
    this.utilisation = span > 0 ? clamp((this.gapBusyMs + current) / span) : 0;
    this.gapBusyMs = -current;
    this.gapMark = now;
    return this.utilisation;
  }

  terminate(): Promise<number> {
    this.gone = true;
    this.port?.close();
    return this.worker.terminate();
  }

  // ---- internals -----------------------------------------------------------------------

  private sendInit(module: WebAssembly.Module | undefined): void {
    if (this.gone) return;
    try {
      this.worker.postMessage({ t: 'init', wasm: module } satisfies ToWorker);
    } catch {
      // The runtime cannot clone a WebAssembly.Module: the worker compiles its own.
      this.worker.postMessage({ t: 'init' } satisfies ToWorker);
    }
  }

  private onMessage(message: FromWorker): void {
    if (this.gone || typeof message !== 'object' || message === null) return;
    switch (message.t) {
      case 'hb': {
        const now = Date.now();
        this.gapBusyMs += Math.max(0, now - this.lastHeartbeat - this.options.heartbeatMs);
        this.lastHeartbeat = now;
        return;
      }
      case 'ready':
        if (typeof message.tid === 'number') this.tid = message.tid;
        this.markReady();
        return;
      case 'low':
        this.lowPriority = true;
        return;
      case 'ev':
        if (typeof message.acks === 'number' && message.acks > 0) {
          this.outstanding = Math.max(0, this.outstanding - message.acks);
          this.progressAt = Date.now();
        }
        if (Array.isArray(message.list)) for (const event of message.list) this.sandboxes.get(event?.id)?.deliver(event);
        if (typeof message.acks === 'number' && message.acks > 0) {
          // After the batch's events: a sandbox that ended at once is not reported as started.
          for (const sandbox of this.unacked.splice(0, message.acks)) sandbox?.started();
        }
        return;
    }
  }

  private markReady(): void {
    if (this.ready) return;
    this.ready = true;
    this.lastHeartbeat = Date.now();
    this.progressAt = Date.now();
    this.gapMark = Date.now();
    this.eluMark = workerPerformance(this.worker)?.eventLoopUtilization?.();
    this.awaitMark = this.guest[1]!;
    for (const fn of this.waiting.splice(0)) fn();
    this.events.onReady(this);
  }

  /** Ends every sandbox on this worker, stops the thread and tells the pool (once). */
  private die(reason: string): void {
    if (this.gone && this.sandboxes.size === 0 && this.reported) return;
    const wasGone = this.gone;
    this.gone = true;
    this.endPatience();
    for (const sandbox of [...this.sandboxes.values()]) sandbox.crash(reason);
    this.sandboxes.clear();
    this.unacked.length = 0;
    this.waiting.length = 0;
    if (!wasGone) {
      this.port?.close();
      void this.worker.terminate();
    }
    if (!this.reported) {
      this.reported = true;
      this.events.onGone(this, reason);
    }
  }

  private reported = false;
}

const STALL_MS = 50;
/** Node: a dedicated channel that `receiveMessageOnPort` can read. Bun: messages through the worker. */
const HOT_CHANNEL = (globalThis as { Bun?: unknown }).Bun === undefined && typeof receiveMessageOnPort === 'function';
const UNANSWERED_MS = 500;
/** How long a worker stuck in a native built-in keeps its other sessions before it is terminated. */
const STUCK_PATIENCE_MS = 15_000;
/** A guest whose last interrupt poll is older than this is inside something that does not poll. */
const RESPONSIVE_MS = 20;
/** A session's own guest code runs well under a millisecond; longer holds the worker. */
const GUEST_BUSY_MS = 5;

function clamp(x: number): number {
  return x < 0 ? 0 : Math.min(x, 1);
}

/** Bun prints a NotImplementedError on merely reading `worker.performance`: don't, there. */
let performanceSupported: boolean | undefined = runtime() === 'bun' ? false : undefined;

/** `worker.performance`, where the runtime has it (Bun throws on access: heartbeats stand in). */
function workerPerformance(worker: Worker): Worker['performance'] | undefined {
  if (performanceSupported === false) return undefined;
  try {
    const perf = (worker as { performance?: Worker['performance'] }).performance;
    perf?.eventLoopUtilization?.();
    performanceSupported = perf !== undefined;
    return perf;
  } catch {
    performanceSupported = false;
    return undefined;
  }
}
