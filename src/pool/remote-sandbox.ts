import type { SandboxFailure, SandboxHandle, SandboxListener, SandboxOutcome, SandboxSpec, ToolSettlement } from '../sandbox/types.js';
import type { SandboxCommand, SandboxEvent } from './messages.js';

/** What a remote sandbox needs from the worker it lives on. */
export interface SandboxHost {
  post(message: SandboxCommand): void;
  /** Calls `fn` once the worker runs sandboxes (at once when it already does). */
  whenReady(fn: () => void): void;
  /**
   * A sandbox of this worker outlived its deadline or abort by the grace, and has been ended
   * here: the worker decides whether its thread must be terminated (see `WorkerSlot.overdue`).
   */
  overdue(reason: string): void;
  release(sandbox: RemoteSandbox): void;
}

export interface RemoteSandboxOptions {
  terminateGraceMs: number;
  maxEvents: number;
}

/**
 * The main thread's handle on a sandbox running in a worker. It keeps the sandbox's deadline
 * itself: if the worker's own interrupt has not ended the sandbox `terminateGraceMs` after the
 * deadline or an `abort()`, the sandbox ends here with that failure and the worker is killed.
 */
export class RemoteSandbox implements SandboxHandle {
  private ended = false;
  private events = 0;
  private aborting: SandboxFailure | undefined;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private armed = false;
  /** When the deadline passes (once armed), and deadline moves asked for before that. */
  private deadlineAt: number | undefined;
  private extension = 0;

  constructor(
    readonly id: number,
    private readonly host: SandboxHost,
    private readonly spec: SandboxSpec,
    private readonly listener: SandboxListener,
    private readonly options: RemoteSandboxOptions,
  ) {}

  /** Sends the sandbox to its worker; the deadline counts from when the worker is ready. */
  begin(): void {
    this.host.post({ t: 'start', id: this.id, spec: this.spec, slot: -1 });
    this.host.whenReady(() => {
      this.armed = true;
      if (this.ended) return;
      if (this.aborting) this.arm(this.aborting, this.options.terminateGraceMs);
      else {
        this.deadlineAt = Date.now() + this.spec.limits.timeoutMs + this.extension;
        this.arm(this.timeout(), Math.max(0, this.deadlineAt - Date.now()) + this.options.terminateGraceMs);
      }
    });
  }

  settleTool(callId: number, settlement: ToolSettlement): void {
    if (this.ended) return;
    this.host.post({ t: 'settle', id: this.id, callId, settlement });
  }

  fireTimer(timer: number, at: number): void {
    if (this.ended) return;
    this.host.post({ t: 'fire', id: this.id, timer, at });
  }

  extendDeadline(ms: number): void {
    if (this.ended || !Number.isFinite(ms) || ms === 0) return;
    this.host.post({ t: 'deadline', id: this.id, ms });
    if (!this.armed) this.extension += ms;
    else if (!this.aborting && this.deadlineAt !== undefined) {
      this.deadlineAt += ms;
      this.arm(this.timeout(), Math.max(0, this.deadlineAt - Date.now()) + this.options.terminateGraceMs);
    }
  }

  private timeout(): SandboxFailure {
    return { code: 'TIMEOUT', message: `execution exceeded ${this.spec.limits.timeoutMs} ms` };
  }

  abort(failure: SandboxFailure): void {
    if (this.ended || this.aborting) return;
    this.aborting = failure;
    this.host.post({ t: 'abort', id: this.id, failure });
    if (this.armed) this.arm(failure, this.options.terminateGraceMs);
  }

  /** The worker has handled this sandbox's `start`: its code ran up to its first wait. */
  started(): void {
    if (!this.ended) this.listener.onStarted?.();
  }

  /** An event from the worker. */
  deliver(event: SandboxEvent): void {
    if (this.ended) return;
    if (event.k === 'done') {
      // A guest stopped through the shared flag reports a stand-in failure: the abort's own wins.
      this.end(this.aborting && !event.outcome.ok ? { ok: false, error: this.aborting } : event.outcome);
      return;
    }
    if (++this.events > this.options.maxEvents) {
      this.abort({ code: 'OUTPUT_BUDGET_EXCEEDED', message: `the sandbox sent more than ${this.options.maxEvents} events` });
      return;
    }
    switch (event.k) {
      case 'call':
        this.listener.onToolCall(event.callId, event.name, event.args);
        return;
      case 'out':
        this.listener.onStdout(event.chunk);
        return;
      case 'log':
        this.listener.onLog(event.level, event.message);
        return;
      case 'timer':
        if (event.ms >= 0) this.listener.onTimerSet?.(event.timer, event.ms);
        else this.listener.onTimerCleared?.(event.timer);
        return;
    }
  }

  /** The worker died: a sandbox being aborted ends with its abort's failure, others as crashed. */
  crash(reason: string): void {
    this.end({
      ok: false,
      error: this.aborting ?? { code: 'SANDBOX_CRASHED', message: `the sandbox worker failed: ${reason}`, recoverable: true },
    });
  }

  private arm(failure: SandboxFailure, ms: number): void {
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (this.ended) return;
      this.end({ ok: false, error: failure });
      // It ends here now, and in the worker once its guest reaches an interrupt.
      this.host.post({ t: 'abort', id: this.id, failure });
      this.host.overdue(
        `sandbox ${this.id} was still running ${this.options.terminateGraceMs} ms after its ${failure.code === 'TIMEOUT' ? 'deadline' : 'abort'}`,
      );
    }, ms);
  }

  private end(outcome: SandboxOutcome): void {
    if (this.ended) return;
    this.ended = true;
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
    this.host.release(this);
    this.listener.onDone(outcome);
  }
}
