import { availableParallelism, totalmem } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { compileQuickJSWasm } from '../sandbox/wasm.node.js';
import type { SandboxHandle, SandboxListener, SandboxSpec } from '../sandbox/types.js';
import type { Executor, ExecutorStats } from './executor.js';
import { resolvePoolOptions, type PoolLogger, type ResolvedPoolOptions, type WorkerPoolOptions } from './options.js';
import { RemoteSandbox } from './remote-sandbox.js';
import { WorkerSlot } from './worker-slot.node.js';

/** Per-worker figures in `stats()`. */
export interface WorkerStats {
  index: number;
  ready: boolean;
  /** Sandboxes living on this worker. */
  active: number;
  /** Utilisation over the last scaling interval (0..1). */
  utilisation: number;
  /** Running guest code for longer than two heartbeats right now. */
  stalled: boolean;
  /** Milliseconds, since it started, this worker spent looking for tool results before sleeping. */
  awaitedMs: number;
}

export interface WorkerPoolStats extends ExecutorStats {
  size: number;
  /** Workers with at least one sandbox. */
  busy: number;
  /** Mean utilisation of the ready workers over the last scaling interval (0..1). */
  utilisation: number;
  workers: WorkerStats[];
  /** Workers that died or were killed and replaced since the pool started. */
  replaced: number;
}

/**
 * Runs sandboxes on Node `worker_threads` (Bun has them too), so that a guest that spins, a
 * native built-in that ignores the interrupt or a memory bomb holds one worker, not the process.
 *
 * - A sandbox lives on one worker; a new one goes to the least-loaded worker (fewest
 *   sandboxes, avoiding workers that are running guest code right now). When every worker is
 *   stalled and the pool is below `maxSize`, a worker is added at once.
 * - **Utilisation** is the mean, over ready workers, of the fraction of the last
 *   `scaleInterval` each worker's event loop was not idle (Node's event-loop utilisation of
 *   the worker, read from the main thread). A guest spinning synchronously counts as fully
 *   busy; a sandbox waiting for a tool does not (nor the sub-millisecond moments a worker looks
 *   for a tool result before it sleeps). Above `scaleUpThreshold` one worker is added
 *   per check (up to `maxSize`); below `scaleDownThreshold` one idle worker is removed (never
 *   below `minSize`).
 * - A worker that dies ends only its own sandboxes (`SANDBOX_CRASHED`, recoverable) and is
 *   replaced. A sandbox still running `terminateGraceMs` after its deadline or its `abort()`
 *   ends with that failure and its worker is terminated and replaced.
 * - The QuickJS WASM is compiled once here and sent to every worker.
 */
export class WorkerPoolExecutor implements Executor {
  readonly kind = 'worker-pool';
  readonly reportsStart = true;
  private readonly options: ResolvedPoolOptions;
  private readonly logger: PoolLogger | undefined;
  private readonly workers: WorkerSlot[] = [];
  private wasm: Promise<WebAssembly.Module | undefined> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  private nextSandbox = 1;
  private nextWorker = 1;
  private replaced = 0;
  private utilisation = 0;
  private rotation = 0;

  constructor(options: WorkerPoolOptions = {}) {
    this.options = resolvePoolOptions(options, availableParallelism(), totalmem());
    this.logger = options.logger;
  }

  get settings(): Readonly<ResolvedPoolOptions> {
    return this.options;
  }

  /** Starts `minSize` workers and resolves once each has instantiated a QuickJS module. */
  async warm(): Promise<void> {
    this.startTimer();
    for (let round = 0; round < 3 && !this.closed; round++) {
      while (this.workers.length < this.options.minSize) this.spawn();
      const pending = this.workers.filter((w) => !w.ready);
      if (pending.length === 0 && this.readyCount() >= this.options.minSize) return;
      await Promise.all(pending.map((w) => new Promise<void>((resolve) => this.onceSettled(w, resolve))));
      if (this.readyCount() >= this.options.minSize) return;
    }
    if (!this.closed) throw new Error('the runtime pool could not start its workers');
  }

  start(spec: SandboxSpec, listener: SandboxListener): SandboxHandle {
    const id = this.nextSandbox++;
    if (this.closed) {
      const failure = { code: 'SANDBOX_CRASHED', message: 'the runtime pool is closed', recoverable: true };
      queueMicrotask(() => listener.onDone({ ok: false, error: failure }));
      return { settleTool() {}, fireTimer() {}, extendDeadline() {}, abort() {} };
    }
    this.startTimer();
    const slot = this.pick();
    const sandbox = new RemoteSandbox(id, slot, spec, listener, {
      terminateGraceMs: this.options.terminateGraceMs,
      maxEvents: this.options.maxEventsPerSandbox,
    });
    slot.start(sandbox);
    return sandbox;
  }

  /**
   * The pool's capacity, which grows with what the machine has: a new session is refused when
   * the process's resident memory passed `memoryBudgetBytes`, or when every worker is held
   * by guest code that does not reach its interrupt (or by as many sandboxes inside sandboxes
   * as a thread takes) and the pool is at twice `maxSize` already. A spinning guest that polls
   * its interrupt does not count: a worker takes new sessions inside it.
   */
  accepting(): boolean {
    if (this.closed) return false;
    const now = Date.now();
    if (this.residentBytes(now) > this.options.memoryBudgetBytes) return false;
    if (this.workers.some((w) => !w.gone && (!w.ready || !w.stuck(now)))) return true;
    return this.workers.length < this.options.maxSize * 2;
  }

  private rss = 0;
  private rssAt = 0;

  /** The process's resident memory, read at most every RSS_EVERY_MS (a read is a system call; this runs per session). */
  private residentBytes(now: number): number {
    if (now - this.rssAt >= RSS_EVERY_MS) {
      this.rss = process.memoryUsage.rss();
      this.rssAt = now;
    }
    return this.rss;
  }

  stats(): WorkerPoolStats {
    const now = Date.now();
    const workers = this.workers.map((w) => ({
      index: w.index,
      ready: w.ready,
      active: w.active,
      utilisation: round(w.utilisation),
      stalled: w.stalled(now),
      awaitedMs: round(w.awaitedMs),
    }));
    return {
      kind: this.kind,
      active: workers.reduce((n, w) => n + w.active, 0),
      size: workers.length,
      busy: workers.filter((w) => w.active > 0).length,
      utilisation: round(this.utilisation),
      workers,
      replaced: this.replaced,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const all = this.workers.splice(0);
    for (const w of all) {
      for (const sandbox of [...w.sandboxes.values()]) sandbox.crash('the runtime pool closed');
    }
    await Promise.all(all.map((w) => w.terminate().catch(() => 0)));
  }

  /** The live worker threads, for tests that kill one from outside. */
  workersForTest(): Worker[] {
    return this.workers.map((w) => w.worker);
  }

  // ---- placement -----------------------------------------------------------------------

  private pick(): WorkerSlot {
    const now = Date.now();
    let best: WorkerSlot | undefined;
    let bestScore = Infinity;
    // Ties go round the workers: the one that ran the last sandbox gets time to free it and
    // prepare its next one while another takes this one.
    const n = this.workers.length;
    const from = n > 0 ? this.rotation++ % n : 0;
    for (let i = 0; i < n; i++) {
      const w = this.workers[(from + i) % n]!;
      // A worker dying right now (its sandboxes are being told so) takes no new one.
      if (w.gone) continue;
      // Sandboxes first; a worker running guest code right now, or still booting, after; one
      // whose guest ignores its interrupt (a long native built-in) last.
      const busy = w.stuck(now) ? STUCK : w.stalled(now) ? BUSY : 0;
      // A booting worker takes a session only when no running one can: its boot takes longer
      // than a start inside a guest's interrupt.
      const score = w.active + w.backlog / 4 + busy + (w.lowPriority ? 1e5 : 0) + (w.ready ? 0 : BOOTING);
      if (score < bestScore) {
        best = w;
        bestScore = score;
      }
    }
    if (!best) return this.spawn();
    // Every worker is running guest code (a spinning script holds its thread until its
    // deadline): add one, past maxSize if need be (up to twice it), so that later sessions get
    // a thread of their own. Idle extra workers are removed by the scaler. This session does
    // not wait for the new thread to boot: a worker whose guest reaches its interrupt polls
    // starts it inside that interrupt at once (see takeNestedWork in worker.node.ts).
    if (bestScore >= BUSY && this.workers.length < this.options.maxSize * 2 && this.workers.every((w) => w.ready)) {
      this.logger?.info('runtime pool: every worker is running guest code, adding one', { size: this.workers.length + 1 });
      const added = this.spawn();
      if (bestScore >= STUCK) return added;
    }
    return best;
  }

  private spawn(): WorkerSlot {
    this.wasm ??= compileQuickJSWasm().catch((err: unknown) => {
      this.logger?.warn('runtime pool: could not compile the QuickJS WASM; each worker compiles its own', {
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    });
    const slot = new WorkerSlot(this.nextWorker++, this.options, this.wasm, {
      onReady: (w) => this.logger?.debug('runtime pool: worker ready', { worker: w.index }),
      onGone: (w, reason) => this.onGone(w, reason),
    });
    this.workers.push(slot);
    return slot;
  }

  private onGone(slot: WorkerSlot, reason: string): void {
    const at = this.workers.indexOf(slot);
    if (at !== -1) this.workers.splice(at, 1);
    if (this.closed || slot.retired) return;
    this.replaced++;
    this.logger?.warn('runtime pool: worker died, replacing it', { worker: slot.index, reason });
    // A worker that died before it was ready is replaced after a pause, not in a tight loop.
    if (slot.ready) this.spawn();
    else setTimeout(() => !this.closed && this.workers.length < Math.max(1, this.options.minSize) && this.spawn(), 250).unref();
  }

  // ---- scaling -------------------------------------------------------------------------

  private startTimer(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setInterval(() => this.scale(), this.options.scaleInterval);
    this.timer.unref();
  }

  private scale(): void {
    const now = Date.now();
    const ready = this.workers.filter((w) => w.ready);
    for (const w of ready) w.sample(now);
    this.utilisation = ready.length ? ready.reduce((s, w) => s + w.utilisation, 0) / ready.length : 0;
    // A worker left at a low CPU priority by a spinning guest is replaced once it is idle.
    const low = ready.find((w) => w.lowPriority && w.active === 0);
    if (low) {
      this.logger?.info('runtime pool: replacing a worker left at low priority', { worker: low.index });
      low.retired = true;
      this.workers.splice(this.workers.indexOf(low), 1);
      void low.terminate();
      if (this.workers.length < Math.max(1, this.options.minSize)) this.spawn();
      return;
    }
    const size = this.workers.length;
    const booting = size - ready.length;
    if (this.utilisation > this.options.scaleUpThreshold && size < this.options.maxSize && booting === 0) {
      // (An extra worker added past maxSize for spinning guests leaves once it is idle, below.)
      this.logger?.info('runtime pool: scaling up', { from: size, to: size + 1, utilisation: round(this.utilisation) });
      this.spawn();
      return;
    }
    if (size < this.options.minSize) {
      this.spawn();
      return;
    }
    const overBurst = size > this.options.maxSize;
    if ((overBurst || this.utilisation < this.options.scaleDownThreshold) && size > this.options.minSize) {
      const idle = ready.find((w) => w.active === 0 && !w.stalled(now));
      if (!idle) return;
      this.logger?.info('runtime pool: scaling down', { from: size, to: size - 1, utilisation: round(this.utilisation) });
      idle.retired = true;
      this.workers.splice(this.workers.indexOf(idle), 1);
      void idle.terminate();
    }
  }

  private readyCount(): number {
    return this.workers.filter((w) => w.ready).length;
  }

  /** Resolves when the worker is ready or gone. */
  private onceSettled(slot: WorkerSlot, done: () => void): void {
    slot.whenReady(done);
    slot.worker.once('exit', () => done());
  }
}

/** Placement penalty of a worker running guest code that polls its interrupt (it takes work inside it). */
const BUSY = 1e3;
/** How stale the resident-memory figure `accepting()` compares with the budget may be. */
const RSS_EVERY_MS = 100;
/** Placement penalty of a worker still starting. */
const BOOTING = 2e3;
/** Placement penalty of a worker whose guest does not reach its interrupt (a native built-in). */
const STUCK = 1e6;

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
