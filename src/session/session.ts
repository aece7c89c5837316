import type { CatalogChangedPayload, EventPayloads, EventType, StreamEvent } from '../protocol/events.js';
import { LIMIT_CODES, LOG } from '../observability/messages.js';
import type { SandboxHandle, SandboxListener, SandboxOutcome } from '../sandbox/types.js';
import type { SessionFence, SessionPatch, SessionRecord, SessionStatus } from '../store/types.js';
import { utf8Length } from '../util/bytes.js';
import { unref } from '../util/timers.js';
import type { ApprovalDecision } from './approvals.js';
import { LocalCursor, type EventCursor, type EventSource } from './cursor.js';
import { DeadlinePause } from './deadline-pause.js';
import { Durability } from './durability.js';
import type { DurableRun } from './durable-run.js';
import { EventLog } from './event-log.js';
import { finalOutcome, finalPayload } from './final-outcome.js';
import { initEventPayload } from './init-event.js';
import type { JournalEntry, ResumeState } from './journal.js';
import type { BrokerLimits } from './limits.js';
import { OutputBudget } from './output-budget.js';
import { OwnerWrites } from './owner-writes.js';
import { ProgressThrottle } from './progress.js';
import { ReaderPresence } from './readers.js';
import { unansweredMail } from './replay.js';
import { sandboxSpec, SandboxSlot } from './sandbox-slot.js';
import type { SessionEnvironment, SessionInit } from './session-environment.js';
import { deepFreeze } from './session-util.js';
import { ToolCalls } from './tool-calls.js';
import { sessionInfo, type SessionInfo, type ToolResultInput } from './types.js';

export type { SessionEnvironment, SessionInit } from './session-environment.js';
export { approvalKey, type ApprovalDecision } from './approvals.js';

const FINAL_STATUS: Record<'ok' | 'error', SessionStatus> = { ok: 'completed', error: 'error' };

/** One session on the process that runs its sandbox: events, tool calls, limits, readers. */
export class Session implements EventSource {
  readonly id: string;
  readonly tenant: string | undefined;
  readonly createdAt: number;
  readonly expiresAt: number;
  status: SessionStatus = 'pending';
  complete = false;

  /** The sandbox the code runs in (a new one after a crash). */
  private readonly slot = new SandboxSlot();
  private launched = false;
  /** The guest's tool calls. */
  private readonly tools: ToolCalls;
  /** Waits for approvals that have their own timeout: they do not count against the execution timeout. */
  private readonly pause = new DeadlinePause((delta) => this.withSandbox((sandbox) => sandbox.extendDeadline(delta)));
  /** Throttling of `tool_progress` per callId. */
  private readonly toolProgress: ProgressThrottle;
  private stdoutBytes = 0;
  /** Bytes counted against `limits.outputBudgetBytes`. */
  private readonly budget: OutputBudget;
  private readonly startedAt: number;
  private readonly seed: number;
  /** Durable sessions: the journal, the runs of the code and their replay. */
  private readonly durable: Durability | undefined;
  private aborting = false;
  /** Between a sandbox crash and the re-run that replaces it. */
  private restarting = false;
  /** Resolves once a resumed session produced again every event stored before (or ended). */
  readonly replayed: Promise<void>;
  private ended = false;
  /**
   * Another process owns the session now (a fenced write or a renewal said so): this copy
   * stopped at once and writes nothing more; its readers go on from the store.
   */
  lost = false;
  /** The record and first event are stored: the session's hold is renewed from then on. */
  private stored = false;
  /** The owner's writes of the session's state (fenced, retried, written back). */
  private readonly writes: OwnerWrites;
  /** The session's events: numbered, batched to the store, shown to readers once stored. */
  private readonly log: EventLog;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private expiry: ReturnType<typeof setTimeout> | undefined;
  /** Who reads the session, and the disconnect grace. */
  private readonly readers: ReaderPresence;
  private readonly contextFrozen: Readonly<Record<string, unknown>>;
  /** Resolves when the final event is stored and visible. */
  readonly finished: Promise<void>;
  private resolveFinished!: () => void;

  constructor(
    private readonly init: SessionInit,
    private readonly env: SessionEnvironment,
  ) {
    this.id = init.id;
    this.tenant = init.tenant;
    const resume = init.resume;
    this.createdAt = resume ? resume.spec.createdAt : Date.now();
    this.startedAt = this.createdAt;
    this.expiresAt = resume ? resume.expiresAt : this.createdAt + init.sessionTimeoutMs;
    this.seed = resume ? resume.spec.seed : (Math.random() * 0x100000000) >>> 0;
    const append = (entries: JournalEntry[]) =>
      this.ownerWrite('journaling a session input', () => env.store.appendJournal!(init.id, entries, this.expiresAt, this.fence));
    this.durable = Durability.of(init, env, this.expiresAt, append, {
      ended: () => this.ended,
      apply: (callId, settlement) => this.tools.apply(callId, settlement),
      fireTimer: (timer, at) => this.withSandbox((sandbox) => sandbox.fireTimer(timer, at)),
      deadline: () => this.startedAt + this.init.limits.timeoutMs,
    });
    this.replayed = this.durable?.replay.done ?? Promise.resolve();
    this.contextFrozen = deepFreeze(structuredClone(init.context));
    this.tools = new ToolCalls({
      sessionId: init.id,
      env,
      limits: init.limits,
      allowTool: init.allowTool,
      identity: init.identity,
      contextFrozen: this.contextFrozen,
      durable: this.durable,
      ended: () => this.ended,
      running: () => !this.ended && this.status === 'running',
      emit: (type, payload) => this.emit(type, payload),
      eventInfo: () => this.eventInfo(),
      spend: (bytes, what) => this.spend(bytes, what),
      abort: (code, message) => this.abort(code, message),
      sandbox: (command) => this.withSandbox(command),
      reportProgress: (callId, update) => this.toolProgress.report(callId, update),
      progressDone: (callId) => this.toolProgress.finish(callId),
      pause: this.pause,
      ownerWrite: (what, write) => this.ownerWrite(what, write),
      fence: () => this.fence,
    });
    this.writes = new OwnerWrites({
      sessionId: init.id,
      env,
      expiresAt: this.expiresAt,
      lost: () => this.lost,
      loseOwnership: () => this.loseOwnership(),
      fence: () => this.fence,
      snapshot: () => ({
        record: this.record(),
        events: this.log.events,
        journal: this.durable?.journal.durableEntries() ?? [],
        pending: this.tools.pendingClientCalls(),
      }),
    });
    this.log = new EventLog({
      sessionId: init.id,
      store: env.store,
      journal: this.durable?.journal.persistent ? this.durable.journal : undefined,
      ended: () => this.ended,
      fence: () => this.fence,
      ownerWrite: (what, write) => this.ownerWrite(what, write),
    });
    if (resume) this.prepareReplay(resume);
    else this.durable?.replay.end();
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.readers = new ReaderPresence(
      init.attached,
      init.limits.disconnectGraceMs,
      () => this.ended,
      () => this.abort('CANCELLED', 'no client read the session within disconnectGraceMs'),
    );
    this.budget = new OutputBudget(init.limits.outputBudgetBytes);
    this.toolProgress = new ProgressThrottle(
      (payload) => this.emit('tool_progress', payload),
      (callId) => !this.ended && this.tools.has(callId),
    );
  }

  /** Counts `bytes` against the output budget; false (and the session ends) when over it. */
  private spend(bytes: number, what: string): boolean {
    if (this.ended || this.budget.over) return false;
    if (this.budget.spend(bytes, what)) return true;
    this.abort(this.budget.over!.code, this.budget.over!.message);
    return false;
  }

  /** Events already stored, in seq order; what readers see. */
  get events(): readonly StreamEvent[] {
    return this.log.events;
  }

  get limits(): BrokerLimits {
    return this.init.limits;
  }

  info(): SessionInfo {
    return sessionInfo(this.record());
  }

  /** The session object of the broker events: `info()` plus who created the session. */
  eventInfo(): SessionInfo {
    const info = this.info();
    const { userId, tenantId, permissions } = this.init.identity;
    if (userId !== undefined) info.userId = userId;
    if (tenantId !== undefined) info.tenantId = tenantId;
    if (permissions !== undefined) info.permissions = [...permissions];
    return info;
  }

  /** Stores the record and `session_init`, then starts the sandbox. */
  async start(): Promise<void> {
    if (this.init.resume) return this.startResumed();
    const { limits, basePath, id } = this.init;
    const initEvent = this.log.envelope('session_init', initEventPayload(this.init, this.expiresAt));
    this.status = 'running';
    await this.env.store.createSession(this.record(), [initEvent]);
    this.stored = true;
    this.durable?.writeSpec({
      code: this.init.code,
      context: this.init.context,
      limits,
      identity: this.init.identity,
      basePath,
      seed: this.seed,
      createdAt: this.createdAt,
    });
    this.log.show([initEvent]);
    if (this.env.listening('session:created')) this.env.emit('session:created', this.eventInfo());
    this.env.logger.debug({ sessionId: id, tenant: this.tenant }, LOG.sessionStarted);
    this.launch();
  }

  /** Resumes a session whose owner died: runs the code again from the start, fed from the journal. */
  private async startResumed(): Promise<void> {
    this.status = 'running';
    this.stored = true;
    const owner = this.init.resume!.previousOwner;
    this.env.logger.warn({ sessionId: this.id, ...(owner ? { owner } : {}) }, 'resuming a session: its owner stopped');
    this.launch();
    // Answers and decisions another process took for the owner that died before journaling them.
    const mail = unansweredMail(this.init.resume!.journal, (callId) => this.tools.approvals.isApproved(callId));
    for (const entry of mail.results) this.submitToolResult(entry.callId, entry.input, true).catch(() => {});
    for (const entry of mail.decisions) {
      const decision: ApprovalDecision = { approve: entry.approve };
      if (entry.reason !== undefined) decision.reason = entry.reason;
      this.decide(entry.callId, decision, true).catch(() => {});
    }
  }

  private launch(): void {
    const { limits } = this.init;
    if (limits.heartbeatIntervalMs > 0) {
      this.heartbeat = setInterval(() => this.emit('heartbeat', { ts: new Date().toISOString() }), limits.heartbeatIntervalMs);
      unref(this.heartbeat);
    }
    this.expiry = setTimeout(() => this.abort('SESSION_EXPIRED', 'the session reached its sessionTimeout'), Math.max(0, this.expiresAt - Date.now()));
    unref(this.expiry);
    if (!this.init.attached) this.readers.startGrace();
    this.launched = true;
    this.startSandbox();
  }

  /** Runs the code in a new sandbox (again, from the journal, after a crash). */
  private startSandbox(): void {
    const { limits } = this.init;
    let run: DurableRun | undefined;
    if (this.durable) run = this.durable.nextRun();
    const listener: SandboxListener = {
      onToolCall: (sandboxId, name, argsJson) => this.tools.onCall(sandboxId, name, argsJson),
      onStdout: (chunk) => {
        const bytes = utf8Length(chunk);
        this.stdoutBytes += bytes;
        if (this.spend(bytes, 'stdout')) this.emit('stdout', { chunk });
      },
      onLog: (level, message) => {
        if (this.spend(utf8Length(message), 'a log message')) this.emit('log', { level, message });
      },
      onDone: (outcome) => this.onSandboxDone(outcome),
    };
    if (run) {
      // The session runs the guest's timers: their firings are inputs, journaled like tool outcomes.
      const feed = this.durable!.feed;
      listener.onTimerSet = (timer, ms) => feed.timerSet(run, timer, ms);
      listener.onTimerCleared = (timer) => feed.timerCleared(run, timer);
    }
    const spec = sandboxSpec(this.init, {
      // A resumed session keeps the deadline it had (moved by the approval waits that do not count).
      timeoutMs: Math.max(1, this.startedAt + limits.timeoutMs + this.pause.shiftMs - Date.now()),
      ...(this.env.toolNamespace ? { toolNamespace: this.env.toolNamespace } : {}),
      ...(this.durable ? { determinism: { seed: this.seed, startTime: this.createdAt } } : {}),
    });
    this.slot.start(this.env.executor, spec, listener);
  }

  private prepareReplay(resume: ResumeState): void {
    this.log.load(resume.events);
    this.durable!.journal.load(resume.journal);
    this.tools.approvals.load(resume);
    this.pause.restore(resume, (toolName) => {
      const route = this.env.resolveTool(toolName);
      return route.kind === 'registry' ? route.tool.approvalTimeoutMs : undefined;
    });
    this.durable!.replay.resume(resume.events);
  }

  /** Runs a command on the sandbox now, or as soon as `executor.start()` returned it. */
  private withSandbox(command: (sandbox: SandboxHandle) => void): void {
    this.slot.run(command);
  }

  // ---- readers --------------------------------------------------------------------------

  /** Reads events with `seq > afterSeq`, then live ones until `final`. */
  read(afterSeq: number, accept?: (e: StreamEvent) => boolean): EventCursor {
    this.readers.attach();
    return new LocalCursor(this, afterSeq, accept, () => this.readers.detach());
  }

  /** Takes over the reader the session was created with (the creating stream). */
  readAsCreator(accept?: (e: StreamEvent) => boolean): EventCursor {
    return new LocalCursor(this, 0, accept, () => this.readers.detach());
  }

  waitForMore(): Promise<void> {
    return this.log.waitForMore();
  }

  /** True once `final` is stored and visible (a moment before `complete`). */
  get finalVisible(): boolean {
    return this.events[this.events.length - 1]?.type === 'final';
  }

  /**
   * Resolves when a new event is visible, or once the code has run for `ms` (time its sandbox
   * spent queued in a busy worker does not count), but at most `maxMs` from now.
   */
  async progress(ms: number, maxMs = ms): Promise<void> {
    if (this.complete) return;
    await this.slot.progress(ms, maxMs, this.waitForMore());
  }

  /** A reader of this session in another process: see `ReaderPresence.holdRemote`. */
  holdRemoteReader(readerId: string, ttlMs: number): void {
    this.readers.holdRemote(readerId, ttlMs);
  }

  releaseRemoteReader(readerId: string): void {
    this.readers.releaseRemote(readerId);
  }

  /** Resolves when everything emitted so far is stored and visible. */
  settled(): Promise<void> {
    return this.log.settled();
  }

  // ---- commands -------------------------------------------------------------------------

  /** Ends the session with `code` (CANCELLED, SESSION_EXPIRED, …). */
  abort(code: string, message: string): void {
    if (this.ended) return;
    this.aborting = true;
    if (!this.launched || this.restarting) this.onSandboxDone({ ok: false, error: { code, message } });
    else this.withSandbox((sandbox) => sandbox.abort({ code, message }));
  }

  cancel(): void {
    this.abort('CANCELLED', 'the session was cancelled');
  }

  notifyCatalogChanged(change: CatalogChangedPayload): void {
    if (!this.ended) this.emit('catalog_changed', change);
  }

  /**
   * A client's answer to one of its tool calls. `claimed` is true when another process
   * already claimed the call in the store.
   */
  submitToolResult(callId: string, input: ToolResultInput, claimed = false): Promise<void> {
    return this.tools.submit(callId, input, claimed);
  }

  /**
   * A decision on a call that waits for approval (see `Approvals.decide`). `claimed` is true
   * when another process already claimed it in the store.
   */
  decide(callId: string, decision: ApprovalDecision, claimed = false): Promise<void> {
    return this.tools.approvals.decide(callId, decision, claimed);
  }

  // ---- ending ---------------------------------------------------------------------------

  private onSandboxDone(outcome: SandboxOutcome): void {
    if (this.ended) return;
    if (!outcome.ok && outcome.error.code === 'SANDBOX_CRASHED' && this.restartable()) {
      // After the executor is done with the crash (a dead worker is out of its pool by then).
      const reason = outcome.error.message;
      this.restarting = true;
      queueMicrotask(() => {
        this.restarting = false;
        if (!this.ended) this.restart(reason);
      });
      return;
    }
    this.durable?.finish();
    const ending = finalOutcome(outcome, this.init.limits, this.budget, (message) => this.tools.timeoutMessage(message));
    outcome = ending.outcome;
    this.ended = true;
    this.stopTimers();
    this.toolProgress.clear();
    this.tools.endAll();
    this.tools.approvals.endAll();
    const stats = { durationMs: Date.now() - this.startedAt, toolCallCount: this.tools.count, stdoutBytes: this.stdoutBytes };
    const { final, result } = finalPayload(outcome, stats, ending.truncated);
    if (!outcome.ok) {
      const { code, message, recoverable } = outcome.error;
      this.emit('error', { code, message, recoverable: recoverable === true });
      if (LIMIT_CODES.has(code)) this.env.logger.warn({ sessionId: this.id, code }, LOG.limitHit);
    }
    this.status = FINAL_STATUS[outcome.ok ? 'ok' : 'error'];
    const patch: SessionPatch = { status: this.status, endedAt: Date.now() };
    if (!outcome.ok) patch.errorCode = outcome.error.code;
    this.log.patch(patch);
    this.emit('final', final);
    void this.settled().then(() => {
      // Its final write was refused: another process owns the session (and ends it).
      if (this.lost) return;
      this.complete = true;
      this.log.wake();
      this.resolveFinished();
      const info = this.eventInfo();
      if (final.ok) this.env.emit('session:completed', info, result);
      else this.env.emit('session:error', info, final.error!);
      this.env.logger.info({ sessionId: this.id, outcome: final.ok ? 'completed' : final.error!.code, ...stats }, LOG.sessionEnded);
      this.env.onEnded(this);
    });
  }

  /** Whether a crashed sandbox may be replaced by a re-run of the code from the journal. */
  private restartable(): boolean {
    if (!this.durable?.mayRestart || this.aborting || this.budget.over) return false;
    return Date.now() - this.startedAt < this.init.limits.timeoutMs;
  }

  /**
   * The sandbox crashed (its worker or WASM module died, not the code): runs the code again
   * in a new sandbox, feeding it the journal; the events it produces again are not emitted
   * twice, calls still running are not made again, and the session goes on.
   */
  private restart(reason: string): void {
    const durable = this.durable!;
    durable.restart();
    this.env.logger.warn({ sessionId: this.id, reason, restart: durable.restarts }, 'the sandbox crashed: running the session again from its journal');
    this.tools.count = 0;
    this.stdoutBytes = 0;
    this.budget.reset();
    this.slot.replace();
    this.startSandbox();
  }

  private stopTimers(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    if (this.expiry !== undefined) clearTimeout(this.expiry);
    this.heartbeat = this.expiry = undefined;
    this.readers.stop();
  }

  // ---- events and storage ---------------------------------------------------------------

  private emit<T extends EventType>(type: T, payload: EventPayloads[T]): void {
    if (this.complete) return;
    // Emitted by an earlier run: the re-run produces it again; it is not emitted twice.
    if (this.durable?.replay.replays(type)) return;
    this.log.push(this.log.envelope(type, payload));
  }

  // ---- ownership (shared stores) --------------------------------------------------------

  /** What this process's writes of the session carry: its owner and epoch (shared stores only). */
  get fence(): SessionFence | undefined {
    return this.env.store.shared ? { owner: this.init.owner, epoch: this.init.epoch ?? 1 } : undefined;
  }

  /** Whether this process renews its hold on the session (stored, running, not lost). */
  get renewable(): boolean {
    return this.stored && !this.lost && !this.complete && this.env.store.shared;
  }

  /** One write of the session's state as its owner: see `OwnerWrites.write`. */
  private ownerWrite(what: string, write: () => Promise<void>): Promise<boolean | undefined> {
    return this.writes.write(what, write);
  }

  /** Writes the session back to a shared store that lost it: see `OwnerWrites.restore`. */
  restore(): Promise<boolean> {
    return this.writes.restore();
  }

  /**
   * Another process owns the session now: this copy stops at once, with no further event,
   * tool call or journal write, and ends nothing in the store (the owner does). Its readers go
   * on from the store (`successor`).
   */
  loseOwnership(): void {
    if (this.lost || this.complete) return;
    this.lost = true;
    this.env.logger.warn({ sessionId: this.id }, 'another process owns the session now: this copy stops');
    const running = !this.ended;
    this.ended = true;
    this.stopTimers();
    this.toolProgress.clear();
    this.tools.endAll();
    this.durable?.close();
    this.log.discard();
    // The sandbox ends without a word: its outcome is ignored (the session has ended here).
    if (running && this.launched) this.withSandbox((sandbox) => sandbox.abort({ code: 'SESSION_LOST', message: 'another process owns the session' }));
    if (this.durable?.replay.active) this.durable.replay.end();
    this.complete = true;
    this.log.wake();
    this.resolveFinished();
    this.env.onEnded(this);
  }

  /** For the readers of a copy that stopped: a cursor that goes on from the store. */
  successor(afterSeq: number, accept: ((e: StreamEvent) => boolean) | undefined): Promise<EventCursor> | undefined {
    return this.lost && this.env.handoff ? this.env.handoff(this.id, afterSeq, accept) : undefined;
  }

  private record(): SessionRecord {
    const record: SessionRecord = {
      id: this.id,
      status: this.status,
      createdAt: this.createdAt,
      expiresAt: this.expiresAt,
      owner: this.init.owner,
      lastSeq: this.log.lastSeq,
    };
    if (this.env.store.shared) record.epoch = this.init.epoch ?? 1;
    if (this.tenant !== undefined) record.tenant = this.tenant;
    return record;
  }
}
