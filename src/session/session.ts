import { BrokerError } from '../protocol/errors.js';
import {
  PROTOCOL_VERSION,
  type CatalogChangedPayload,
  type EventPayloads,
  type EventType,
  type FinalPayload,
  type StreamEvent,
  type ToolProgressPayload,
} from '../protocol/events.js';
import type { Executor } from '../pool/executor.js';
import { logsToolArgs } from '../observability/logger.js';
import { LIMIT_CODES, LOG } from '../observability/messages.js';
import type { SandboxHandle, SandboxOutcome, ToolSettlement } from '../sandbox/types.js';
import type { BrokerStore, SessionPatch, SessionRecord, SessionStatus } from '../store/types.js';
import { validateArgs } from '../tools/validate.js';
import type { CallerIdentity, ExecutionContext, ToolProgress } from '../tools/types.js';
import { LocalCursor, type EventCursor, type EventSource } from './cursor.js';
import type { BrokerLimits } from './limits.js';
import type { ToolRoute } from './tool-resolver.js';
import {
  sessionInfo,
  type BrokerEventMap,
  type Logger,
  type SessionError,
  type SessionInfo,
  type ToolResultInput,
} from './types.js';

/** What a session needs from the broker around it. */
export interface SessionEnvironment {
  store: BrokerStore;
  executor: Executor;
  resolveTool(name: string): ToolRoute;
  emit<K extends keyof BrokerEventMap>(event: K, ...args: Parameters<BrokerEventMap[K]>): void;
  /** Whether anyone listens to a broker event (spares building its arguments). */
  listening(event: keyof BrokerEventMap): boolean;
  logger: Logger;
  /** Called once the session's final event is stored. */
  onEnded(session: Session): void;
}

export interface SessionInit {
  id: string;
  code: string;
  context: Record<string, unknown>;
  limits: BrokerLimits;
  identity: CallerIdentity;
  /** tenantId or userId: who may see the session. */
  tenant: string | undefined;
  owner: string;
  sessionTimeoutMs: number;
  /** Path prefix the HTTP API is mounted under ('' at the root). */
  basePath: string;
  /** Whether a reader is attached from the start (the stream that created the session). */
  attached: boolean;
  /** Whether the caller may call a server-side tool (from `permissions`). */
  allowTool: (toolName: string) => boolean;
  /**
   * Journal every nondeterministic input (tool results, the clock, the random seed) in the
   * store before the guest sees it, so another process can resume the session.
   */
  durable?: boolean;
  /** Set when this process resumes a session whose owner died (see `SessionManager`). */
  resume?: ResumeState;
}

/** The first journal entry of a durable session: what it takes to run it again. */
export interface JournalSpec {
  k: 'spec';
  code: string;
  context: Record<string, unknown>;
  limits: BrokerLimits;
  identity: CallerIdentity;
  basePath: string;
  seed: number;
  createdAt: number;
}

/** A tool outcome as the guest got it, in the order the guest got them. */
export interface JournalResult {
  k: 'r';
  c: string;
  s: ToolSettlement;
}

export type JournalEntry = JournalSpec | JournalResult;

export interface ResumeState {
  spec: JournalSpec;
  journal: JournalEntry[];
  /** Every event already stored. */
  events: StreamEvent[];
  expiresAt: number;
}

/** Events whose number and order a re-run need not reproduce. */
const UNREPLAYED: ReadonlySet<string> = new Set(['session_init', 'heartbeat', 'catalog_changed', 'tool_progress']);

type CallState = {
  sandboxId: number;
  toolName: string;
  handler: 'server' | 'client';
  startedAt: number;
  abort?: AbortController;
  /** Kept only when the logger may log argument values (`logToolArgs`). */
  args?: Record<string, unknown>;
};

/** At most one `tool_progress` event per call in this window (ms). */
const PROGRESS_INTERVAL_MS = 100;
const MAX_PROGRESS_MESSAGE = 1024;

type ProgressState = { last: number; pending?: ToolProgressPayload; timer?: ReturnType<typeof setTimeout> };

const FINAL_STATUS: Record<'ok' | 'error', SessionStatus> = { ok: 'completed', error: 'error' };

/** One session on the process that runs its sandbox: events, tool calls, limits, readers. */
export class Session implements EventSource {
  readonly id: string;
  readonly tenant: string | undefined;
  readonly createdAt: number;
  readonly expiresAt: number;
  status: SessionStatus = 'pending';
  /** Events already stored, in seq order; what readers see. */
  readonly events: StreamEvent[] = [];
  complete = false;

  private seq = 0;
  private sandbox: SandboxHandle | undefined;
  /** Commands for the sandbox issued while its first run is still on the stack. */
  private early: ((sandbox: SandboxHandle) => void)[] | undefined = [];
  private launched = false;
  private readonly calls = new Map<string, CallState>();
  private readonly resolvedCalls = new Set<string>();
  /** Throttling of `tool_progress` per callId. */
  private readonly progressStates = new Map<string, ProgressState>();
  private toolCallCount = 0;
  private stdoutBytes = 0;
  /** Bytes counted against `limits.outputBudgetBytes`. */
  private outputBytes = 0;
  /** Set once the budget is exceeded: the session ends with it, whatever the sandbox says. */
  private overBudget: { code: string; message: string } | undefined;
  private readonly startedAt: number;
  private readonly seed: number;
  private readonly durable: boolean;
  /** Replay of a resumed session: stored events per type not yet produced again. */
  private replayLeft: Map<string, number> | undefined;
  /** Journaled results (callId → settlement) and their order, while replaying. */
  private readonly journaled = new Map<string, ToolSettlement>();
  private journalOrder: string[] = [];
  private journalPos = 0;
  /** callIds of the tool_call events already stored. */
  private readonly loggedCalls = new Set<string>();
  private journalWrites: Promise<void> = Promise.resolve();
  /** Resolves once a resumed session produced again every event stored before (or ended). */
  readonly replayed: Promise<void>;
  private resolveReplayed!: () => void;
  private readonly callPrefix: string;
  private ended = false;
  private queue: StreamEvent[] = [];
  private pendingPatch: SessionPatch | undefined;
  private flushScheduled = false;
  private writes: Promise<void> = Promise.resolve();
  private more = deferred();
  private readers = 0;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private expiry: ReturnType<typeof setTimeout> | undefined;
  private grace: ReturnType<typeof setTimeout> | undefined;
  /** Readers in other processes, each held until its timer lapses or it lets go. */
  private readonly remoteReaders = new Map<string, ReturnType<typeof setTimeout>>();
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
    this.durable = init.durable === true || resume !== undefined;
    this.callPrefix = `c_${hash36(init.id)}_`;
    this.replayed = new Promise((r) => (this.resolveReplayed = r));
    if (resume) this.prepareReplay(resume);
    else this.resolveReplayed();
    this.contextFrozen = deepFreeze(structuredClone(init.context));
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    if (init.attached) this.readers = 1;
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
    const base = `${basePath}/sessions/${id}`;
    const initEvent = this.envelope('session_init', {
      expiresAt: new Date(this.expiresAt).toISOString(),
      limits: {
        timeoutMs: limits.timeoutMs,
        maxToolCalls: limits.maxToolCalls,
        memoryLimitBytes: limits.memoryLimitBytes,
        maxStdoutBytes: limits.maxStdoutBytes,
      },
      cancelUrl: `${base}/cancel`,
      toolResultUrl: `${base}/tool-result`,
      replayUrl: `${base}/events`,
    });
    this.status = 'running';
    const created = this.env.store.createSession(this.record(), [initEvent]);
    if (this.durable) {
      const spec: JournalSpec = {
        k: 'spec',
        code: this.init.code,
        context: this.init.context,
        limits,
        identity: this.init.identity,
        basePath,
        seed: this.seed,
        createdAt: this.createdAt,
      };
      const journaled = this.env.store.appendJournal!(id, [spec], this.expiresAt).catch((err: unknown) => {
        // Without its spec the session cannot be resumed: it would end as SESSION_LOST.
        this.env.logger.error({ sessionId: id, err: String(err) }, 'journaling the session failed');
      });
      await Promise.all([created, journaled]);
    } else await created;
    this.makeVisible([initEvent]);
    if (this.env.listening('session:created')) this.env.emit('session:created', this.eventInfo());
    this.env.logger.debug({ sessionId: id, tenant: this.tenant }, LOG.sessionStarted);
    this.launch();
  }

  /** Resumes a session whose owner died: runs the code again from the start, fed from the journal. */
  private async startResumed(): Promise<void> {
    this.status = 'running';
    this.env.logger.warn({ sessionId: this.id }, 'resuming a session whose owner stopped');
    this.launch();
  }

  private launch(): void {
    const { limits } = this.init;
    if (limits.heartbeatIntervalMs > 0) {
      this.heartbeat = setInterval(() => this.emit('heartbeat', { ts: new Date().toISOString() }), limits.heartbeatIntervalMs);
      unref(this.heartbeat);
    }
    this.expiry = setTimeout(
      () => this.abort('SESSION_EXPIRED', 'the session reached its sessionTimeout'),
      Math.max(0, this.expiresAt - Date.now()),
    );
    unref(this.expiry);
    if (!this.init.attached) this.startGrace();

    this.launched = true;
    const sandbox = this.env.executor.start(
      {
        code: this.init.code,
        contextJson: JSON.stringify(this.init.context),
        ...(this.durable ? { determinism: { seed: this.seed, startTime: this.createdAt } } : {}),
        limits: {
          // A resumed session keeps the deadline it had.
          timeoutMs: Math.max(1, limits.timeoutMs - (Date.now() - this.startedAt)),
          memoryLimitBytes: limits.memoryLimitBytes,
          maxStackBytes: limits.maxStackBytes,
          maxStdoutBytes: limits.maxStdoutBytes,
          maxResultBytes: limits.maxResultBytes,
        },
      },
      {
        onToolCall: (sandboxId, name, argsJson) => this.onToolCall(sandboxId, name, argsJson),
        onStdout: (chunk) => {
          const bytes = byteLength(chunk);
          this.stdoutBytes += bytes;
          if (this.spend(bytes, 'stdout')) this.emit('stdout', { chunk });
        },
        onLog: (level, message) => {
          if (this.spend(byteLength(message), 'a log message')) this.emit('log', { level, message });
        },
        onDone: (outcome) => this.onSandboxDone(outcome),
      },
    );
    this.sandbox = sandbox;
    const early = this.early ?? [];
    this.early = undefined;
    for (const command of early) command(sandbox);
  }

  private prepareReplay(resume: ResumeState): void {
    const left = new Map<string, number>();
    for (const e of resume.events) {
      this.events.push(e);
      this.seq = Math.max(this.seq, e.seq);
      if (e.type === 'tool_call') this.loggedCalls.add(e.payload.callId);
      if (UNREPLAYED.has(e.type)) continue;
      left.set(e.type, (left.get(e.type) ?? 0) + 1);
    }
    for (const entry of resume.journal) {
      if (entry.k !== 'r' || this.journaled.has(entry.c)) continue;
      this.journaled.set(entry.c, entry.s);
      this.journalOrder.push(entry.c);
    }
    this.replayLeft = left;
    this.checkReplayed();
  }

  private checkReplayed(): void {
    if (!this.replayLeft) return;
    for (const n of this.replayLeft.values()) if (n > 0) return;
    this.replayLeft = undefined;
    this.resolveReplayed();
  }

  /** Applies journaled results, in journal order, as far as the re-run has made their calls. */
  private pumpJournal(): void {
    while (this.journalPos < this.journalOrder.length && !this.ended) {
      const callId = this.journalOrder[this.journalPos]!;
      if (!this.calls.has(callId)) return;
      this.journalPos++;
      this.apply(callId, this.journaled.get(callId)!);
    }
  }

  /** Runs a command on the sandbox now, or as soon as `executor.start()` returned it. */
  private withSandbox(command: (sandbox: SandboxHandle) => void): void {
    if (this.sandbox) command(this.sandbox);
    else if (this.early) this.early.push(command);
  }

  // ---- readers --------------------------------------------------------------------------

  /** Reads events with `seq > afterSeq`, then live ones until `final`. */
  read(afterSeq: number, accept?: (e: StreamEvent) => boolean): EventCursor {
    this.attach();
    return new LocalCursor(this, afterSeq, accept, () => this.detach());
  }

  /** Takes over the reader the session was created with (the creating stream). */
  readAsCreator(accept?: (e: StreamEvent) => boolean): EventCursor {
    return new LocalCursor(this, 0, accept, () => this.detach());
  }

  waitForMore(): Promise<void> {
    return this.more.promise;
  }

  /** True once `final` is stored and visible (a moment before `complete`). */
  get finalVisible(): boolean {
    return this.events[this.events.length - 1]?.type === 'final';
  }

  /** Resolves when a new event is visible or `ms` passed, whichever comes first. */
  async progress(ms: number): Promise<void> {
    if (this.complete) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.more.promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  /** Resolves when everything emitted so far is stored and visible. */
  settled(): Promise<void> {
    if (this.flushScheduled) this.flush();
    return this.writes;
  }

  /**
   * A reader of this session in another process (it follows the stored events). It counts
   * for the disconnect grace like a local one until it lets go or `ttlMs` passes without it
   * renewing the hold (so a reader whose process died is dropped).
   */
  holdRemoteReader(readerId: string, ttlMs: number): void {
    if (this.ended) return;
    const timer = this.remoteReaders.get(readerId);
    if (timer !== undefined) clearTimeout(timer);
    else this.attach();
    const lapse = setTimeout(() => this.releaseRemoteReader(readerId), ttlMs);
    unref(lapse);
    this.remoteReaders.set(readerId, lapse);
  }

  releaseRemoteReader(readerId: string): void {
    const timer = this.remoteReaders.get(readerId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.remoteReaders.delete(readerId);
    this.detach();
  }

  private attach(): void {
    this.readers++;
    if (this.grace !== undefined) {
      clearTimeout(this.grace);
      this.grace = undefined;
    }
  }

  private detach(): void {
    this.readers = Math.max(0, this.readers - 1);
    if (this.readers === 0 && !this.ended) this.startGrace();
  }

  private startGrace(): void {
    if (this.grace !== undefined || this.ended) return;
    this.grace = setTimeout(() => {
      this.grace = undefined;
      if (this.readers === 0) this.abort('CANCELLED', 'no client read the session within disconnectGraceMs');
    }, this.init.limits.disconnectGraceMs);
    unref(this.grace);
  }

  // ---- commands -------------------------------------------------------------------------

  /** Ends the session with `code` (CANCELLED, SESSION_EXPIRED, …). */
  abort(code: string, message: string): void {
    if (this.ended) return;
    if (!this.launched) this.onSandboxDone({ ok: false, error: { code, message } });
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
  async submitToolResult(callId: string, input: ToolResultInput, claimed = false): Promise<void> {
    if (this.ended || this.status !== 'running') {
      throw new BrokerError('CONFLICT', 'the session is no longer running');
    }
    if (!this.calls.has(callId) && this.replayLeft) await this.replayed;
    const call = this.calls.get(callId);
    if (!call) {
      if (this.resolvedCalls.has(callId)) throw new BrokerError('CONFLICT', 'this tool call was already resolved');
      throw new BrokerError('NOT_FOUND', `no tool call ${callId} in this session`);
    }
    if (call.handler === 'server') throw new BrokerError('CONFLICT', 'this tool call runs on the server');
    if (!claimed && !(await this.claim(callId))) {
      throw new BrokerError('CONFLICT', 'this tool call was already resolved');
    }
    if (!this.calls.has(callId)) throw new BrokerError('CONFLICT', 'this tool call was already resolved');
    if (input.error) {
      this.settle(callId, {
        ok: false,
        error: { message: String(input.error.message), code: input.error.code ?? 'TOOL_ERROR' },
      });
      return;
    }
    this.settle(callId, this.encodeResult(input.result));
  }

  /**
   * Claims a call in the store. When the store cannot be reached the call is applied anyway:
   * every result ends up in this process, where `calls` lets only the first one through, so
   * the store claim only decides which of two submitters hears 409.
   */
  private async claim(callId: string): Promise<boolean> {
    try {
      return await this.env.store.claimPendingCall(this.id, callId);
    } catch (err) {
      if ((err as { code?: unknown } | undefined)?.code !== 'STORE_UNAVAILABLE') throw err;
      this.env.logger.warn({ sessionId: this.id, callId }, 'the store is unavailable: applying a tool result without claiming it');
      return true;
    }
  }

  // ---- tool calls -----------------------------------------------------------------------

  private onToolCall(sandboxId: number, toolName: string, argsJson: string): void {
    if (this.ended) return;
    // Deterministic: the same call of a re-run gets the same id.
    const callId = `${this.callPrefix}${sandboxId}`;
    this.toolCallCount++;
    if (this.toolCallCount > this.init.limits.maxToolCalls) {
      this.abort('MAX_TOOL_CALLS', `the session made more than ${this.init.limits.maxToolCalls} tool calls`);
      return;
    }
    if (!this.spend(byteLength(argsJson), 'tool arguments')) return;
    let args: Record<string, unknown>;
    try {
      args = JSON.parse(argsJson) as Record<string, unknown>;
    } catch {
      args = {};
    }
    const route = this.env.resolveTool(toolName);
    const handler = route.kind === 'client' ? 'client' : 'server';
    this.calls.set(callId, { sandboxId, toolName, handler, startedAt: Date.now(), ...(logsToolArgs(this.env.logger) ? { args } : {}) });
    if (this.journaled.has(callId)) {
      // A re-run reached a call whose outcome is journaled: it is not made again.
      this.emit('tool_call', { callId, toolName, args, handler });
      this.pumpJournal();
      return;
    }
    if (this.env.listening('tool:called')) this.env.emit('tool:called', this.eventInfo(), toolName, args);

    if (route.kind === 'client') {
      // The pending mark must be stored before the client can see the call.
      this.env.store.addPendingCall(this.id, callId).then(
        () => this.emit('tool_call', { callId, toolName, args, handler }),
        (err) => {
          this.env.logger.error({ sessionId: this.id, err: String(err) }, 'storing a pending tool call failed');
          this.emit('tool_call', { callId, toolName, args, handler });
        },
      );
      return;
    }
    this.emit('tool_call', { callId, toolName, args, handler });
    if (route.kind === 'missing') {
      this.settle(callId, { ok: false, error: { code: 'TOOL_NOT_FOUND', message: `no tool named ${JSON.stringify(toolName)}` } });
      return;
    }
    if (!this.init.allowTool(toolName)) {
      this.settle(callId, {
        ok: false,
        error: { code: 'TOOL_PERMISSION_DENIED', message: `not permitted to call ${JSON.stringify(toolName)}` },
      });
      return;
    }
    void this.runServerTool(callId, route, args);
  }

  private async runServerTool(
    callId: string,
    route: Extract<ToolRoute, { kind: 'registry' | 'handler' }>,
    rawArgs: Record<string, unknown>,
  ): Promise<void> {
    const call = this.calls.get(callId)!;
    let args = rawArgs;
    if (route.kind === 'registry') {
      const checked = validateArgs(route.tool, rawArgs);
      if (checked.problems.length > 0) {
        this.settle(callId, {
          ok: false,
          error: {
            code: 'TOOL_ARGS_INVALID',
            message: `invalid arguments for ${call.toolName}: ${checked.problems.join('; ')}`,
            details: { problems: checked.problems },
          },
        });
        return;
      }
      args = checked.args;
    }
    const session = this;
    const context: ExecutionContext = {
      ...this.init.identity,
      sessionId: this.id,
      callId,
      toolName: call.toolName,
      context: this.contextFrozen,
      progress: (update) => this.reportProgress(callId, update),
      // Made on first use: most handlers never look at it.
      get signal(): AbortSignal {
        if (!call.abort) {
          call.abort = new AbortController();
          if (session.ended || !session.calls.has(callId)) call.abort.abort();
        }
        return call.abort.signal;
      },
    };
    const handler = route.kind === 'registry' ? route.tool.handler : route.handler;
    let settlement: ToolSettlement;
    let result: unknown;
    try {
      result = await handler(args, context);
      settlement = this.encodeResult(result);
    } catch (err) {
      settlement = { ok: false, error: toolError(err) };
    }
    if (!this.calls.has(callId)) return;
    if (settlement.ok && this.env.listening('tool:completed')) {
      this.env.emit('tool:completed', this.eventInfo(), call.toolName, result);
    }
    this.settle(callId, settlement);
  }

  private encodeResult(result: unknown): ToolSettlement {
    if (result === undefined) return { ok: true };
    let json: string | undefined;
    try {
      json = JSON.stringify(result);
    } catch (err) {
      return { ok: false, error: { code: 'TOOL_ERROR', message: `the tool result is not JSON-serializable: ${(err as Error).message}` } };
    }
    if (json === undefined) return { ok: true };
    if (byteLength(json) > this.init.limits.maxResultBytes) {
      return { ok: false, error: { code: 'RESULT_TOO_LARGE', message: `the tool result exceeds ${this.init.limits.maxResultBytes} bytes` } };
    }
    return { ok: true, resultJson: json };
  }

  private settle(callId: string, settlement: ToolSettlement): void {
    const call = this.calls.get(callId);
    if (!call || this.ended) return;
    if (!this.durable) {
      this.apply(callId, settlement);
      return;
    }
    // Durable: the outcome is journaled before the guest sees it; the call is resolved now.
    this.calls.delete(callId);
    this.resolvedCalls.add(callId);
    const entry: JournalResult = { k: 'r', c: callId, s: { ...settlement, at: Date.now() } };
    const write = this.journalWrites.then(() => this.env.store.appendJournal!(this.id, [entry], this.expiresAt));
    const applyNow = () => {
      if (this.ended) return;
      this.calls.set(callId, call);
      this.apply(callId, entry.s);
    };
    this.journalWrites = write.then(applyNow, (err) => {
      // The session goes on in memory; only a resume after this point would go wrong.
      this.env.logger.error({ sessionId: this.id, err: String(err) }, 'journaling a tool result failed');
      applyNow();
    });
  }

  /** Gives the guest a call's outcome (already journaled when the session is durable). */
  private apply(callId: string, settlement: ToolSettlement): void {
    const call = this.calls.get(callId);
    if (!call || this.ended) return;
    const received = settlement.ok ? (settlement.resultJson === undefined ? 0 : byteLength(settlement.resultJson)) : byteLength(settlement.error.message);
    if (!this.spend(received, 'a tool result')) return;
    this.flushProgress(callId);
    this.progressStates.delete(callId);
    this.calls.delete(callId);
    this.resolvedCalls.add(callId);
    const durationMs = Date.now() - call.startedAt;
    this.emit('tool_result_applied', { callId, ok: settlement.ok, durationMs });
    const line: Record<string, unknown> = {
      sessionId: this.id,
      callId,
      tool: call.toolName,
      handler: call.handler,
      durationMs,
      outcome: settlement.ok ? 'ok' : settlement.error.code,
    };
    if (call.args !== undefined) line.args = call.args;
    this.env.logger.info(line, LOG.toolCall);
    this.withSandbox((sandbox) => sandbox.settleTool(call.sandboxId, settlement));
  }

  // ---- tool progress --------------------------------------------------------------------

  private reportProgress(callId: string, update: ToolProgress): void {
    if (this.ended || !this.calls.has(callId) || !update || typeof update !== 'object') return;
    const payload: ToolProgressPayload = { callId };
    if (typeof update.message === 'string') payload.message = update.message.slice(0, MAX_PROGRESS_MESSAGE);
    if (typeof update.progress === 'number' && Number.isFinite(update.progress)) payload.progress = update.progress;
    if (typeof update.total === 'number' && Number.isFinite(update.total)) payload.total = update.total;
    let state = this.progressStates.get(callId);
    if (!state) {
      state = { last: -Infinity };
      this.progressStates.set(callId, state);
    }
    const now = Date.now();
    if (state.timer === undefined && now - state.last >= PROGRESS_INTERVAL_MS) {
      state.last = now;
      this.emit('tool_progress', payload);
      return;
    }
    state.pending = payload;
    if (state.timer === undefined) {
      state.timer = setTimeout(() => this.flushProgress(callId), Math.max(0, state.last + PROGRESS_INTERVAL_MS - now));
      unref(state.timer);
    }
  }

  /** Sends the call's kept progress report, if any. */
  private flushProgress(callId: string): void {
    const state = this.progressStates.get(callId);
    if (!state) return;
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timer = undefined;
    const pending = state.pending;
    state.pending = undefined;
    if (!this.calls.has(callId)) {
      this.progressStates.delete(callId);
      return;
    }
    if (pending && !this.ended) {
      state.last = Date.now();
      this.emit('tool_progress', pending);
    }
  }

  // ---- output budget --------------------------------------------------------------------

  private fits(bytes: number): boolean {
    const budget = this.init.limits.outputBudgetBytes;
    return budget === undefined || this.outputBytes + bytes <= budget;
  }

  private budgetFailure(what: string): { code: string; message: string } {
    return {
      code: 'OUTPUT_BUDGET_EXCEEDED',
      message: `${what} would take the session's output past its budget of ${this.init.limits.outputBudgetBytes} bytes`,
    };
  }

  /** Counts `bytes` against the output budget; false (and the session ends) when over it. */
  private spend(bytes: number, what: string): boolean {
    if (this.ended || this.overBudget) return false;
    if (this.fits(bytes)) {
      this.outputBytes += bytes;
      return true;
    }
    this.overBudget = this.budgetFailure(what);
    this.abort(this.overBudget.code, this.overBudget.message);
    return false;
  }

  // ---- ending ---------------------------------------------------------------------------

  private onSandboxDone(outcome: SandboxOutcome): void {
    if (this.ended) return;
    if (this.replayLeft) {
      this.replayLeft = undefined;
      this.resolveReplayed();
    }
    if (this.overBudget) outcome = { ok: false, error: this.overBudget };
    else if (outcome.ok && outcome.resultJson !== undefined && !this.fits(byteLength(outcome.resultJson))) {
      outcome = { ok: false, error: this.budgetFailure('the result') };
    }
    this.ended = true;
    this.stopTimers();
    for (const state of this.progressStates.values()) if (state.timer !== undefined) clearTimeout(state.timer);
    this.progressStates.clear();
    for (const call of this.calls.values()) call.abort?.abort();
    this.calls.clear();
    const stats = { durationMs: Date.now() - this.startedAt, toolCallCount: this.toolCallCount, stdoutBytes: this.stdoutBytes };
    let final: FinalPayload;
    let result: unknown;
    if (outcome.ok) {
      result = outcome.resultJson === undefined ? undefined : JSON.parse(outcome.resultJson);
      final = { ok: true, stats };
      if (outcome.resultJson !== undefined) final.result = result;
    } else {
      const { code, message, stack, recoverable } = outcome.error;
      this.emit('error', { code, message, recoverable: recoverable === true });
      if (LIMIT_CODES.has(code)) this.env.logger.warn({ sessionId: this.id, code }, LOG.limitHit);
      const error: SessionError = { code, message };
      if (stack) error.stack = stack;
      final = { ok: false, error, stats };
    }
    this.status = FINAL_STATUS[outcome.ok ? 'ok' : 'error'];
    this.pendingPatch = { status: this.status, endedAt: Date.now() };
    if (!outcome.ok) this.pendingPatch.errorCode = outcome.error.code;
    this.emit('final', final);
    void this.settled().then(() => {
      this.complete = true;
      this.wakeReaders();
      this.resolveFinished();
      const info = this.eventInfo();
      if (final.ok) this.env.emit('session:completed', info, result);
      else this.env.emit('session:error', info, final.error!);
      this.env.logger.info(
        { sessionId: this.id, outcome: final.ok ? 'completed' : final.error!.code, ...stats },
        LOG.sessionEnded,
      );
      this.env.onEnded(this);
    });
  }

  private stopTimers(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    if (this.expiry !== undefined) clearTimeout(this.expiry);
    if (this.grace !== undefined) clearTimeout(this.grace);
    this.heartbeat = this.expiry = this.grace = undefined;
    for (const timer of this.remoteReaders.values()) clearTimeout(timer);
    this.remoteReaders.clear();
  }

  // ---- events and storage ---------------------------------------------------------------

  private envelope<T extends EventType>(type: T, payload: EventPayloads[T]): StreamEvent {
    return {
      protocolVersion: PROTOCOL_VERSION,
      sessionId: this.id,
      seq: ++this.seq,
      timestamp: Date.now(),
      type,
      payload,
    } as StreamEvent;
  }

  private emit<T extends EventType>(type: T, payload: EventPayloads[T]): void {
    if (this.complete) return;
    const left = this.replayLeft?.get(type);
    if (left !== undefined && left > 0) {
      // Stored before the owner died: the re-run produces it again; it is not emitted twice.
      this.replayLeft!.set(type, left - 1);
      this.checkReplayed();
      return;
    }
    this.queue.push(this.envelope(type, payload));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Stores what was emitted since the last flush in one write, then shows it to readers. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    const patch = this.pendingPatch;
    this.queue = [];
    this.pendingPatch = undefined;
    if (batch.length === 0 && !patch) return;
    const last = batch[batch.length - 1];
    if (last && patch) patch.lastSeq = last.seq;
    this.writes = this.writes.then(async () => {
      try {
        const { store } = this.env;
        // Issued together: a store that batches its calls (Redis, Upstash) writes both in one
        // round trip, the events first.
        const stored = store.appendEvents(this.id, batch, patch);
        await (store.shared ? Promise.all([stored, store.publish(`ev:${this.id}`, JSON.stringify(batch))]) : stored);
      } catch (err) {
        // The session goes on in memory; readers here still get every event.
        this.env.logger.error({ sessionId: this.id, err: String(err) }, 'storing session events failed');
      }
      this.makeVisible(batch);
    });
  }

  private makeVisible(batch: StreamEvent[]): void {
    for (const e of batch) this.events.push(e);
    this.wakeReaders();
  }

  private wakeReaders(): void {
    const current = this.more;
    this.more = deferred();
    current.resolve();
  }

  private record(): SessionRecord {
    const record: SessionRecord = {
      id: this.id,
      status: this.status,
      createdAt: this.createdAt,
      expiresAt: this.expiresAt,
      owner: this.init.owner,
      lastSeq: this.events.length ? this.events[this.events.length - 1]!.seq : 0,
    };
    if (this.tenant !== undefined) record.tenant = this.tenant;
    return record;
  }
}

/** FNV-1a of `s`, base 36. */
function hash36(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

function toolError(err: unknown): { code: string; message: string; details?: unknown } {
  if (err instanceof BrokerError) {
    const out: { code: string; message: string; details?: unknown } = { code: err.code, message: err.message };
    if (err.details !== undefined) out.details = err.details;
    return out;
  }
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : 'the tool failed';
  return { code: 'TOOL_ERROR', message };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const encoder = new TextEncoder();
function byteLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return encoder.encode(s).length;
  return s.length;
}

function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
