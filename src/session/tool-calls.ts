import { BrokerError } from '../protocol/errors.js';
import type { EventPayloads, EventType } from '../protocol/events.js';
import { logsToolArgs } from '../observability/logger.js';
import { LOG } from '../observability/messages.js';
import type { SandboxHandle, ToolSettlement } from '../sandbox/types.js';
import type { SessionFence } from '../store/types.js';
import { validateArgs } from '../tools/validate.js';
import type { ToolProgress } from '../tools/types.js';
import { utf8Length } from '../util/bytes.js';
import { Approvals } from './approvals.js';
import type { DeadlinePause } from './deadline-pause.js';
import type { Durability } from './durability.js';
import type { BrokerLimits } from './limits.js';
import type { SessionEnvironment } from './session-environment.js';
import { hash36 } from './session-util.js';
import { ToolCallContext, type CallOwner } from './tool-context.js';
import { encodeResult, toolError } from './tool-outcome.js';
import type { ToolRoute } from './tool-resolver.js';
import type { SessionInfo, ToolResultInput } from './types.js';

type CallState = {
  sandboxId: number;
  toolName: string;
  handler: 'server' | 'client';
  startedAt: number;
  abort?: AbortController;
  /** Told when the call's signal would fire (`ON_ABORT`), for handlers that skip the signal. */
  onAbort?: Array<() => void>;
  /** Kept only when the logger may log argument values (`logToolArgs`). */
  args?: Record<string, unknown>;
  /** Durable sessions: its outcome is journaled (or being journaled); no other is taken. */
  settled?: boolean;
};

/** What a session's tool calls need from it. */
export interface ToolCallHost {
  sessionId: string;
  env: SessionEnvironment;
  limits: BrokerLimits;
  /** Whether the caller may call a server-side tool (from `permissions`). */
  allowTool(toolName: string): boolean;
  identity: CallOwner['identity'];
  contextFrozen: CallOwner['contextFrozen'];
  /** Durable sessions: outcomes are journaled before the guest gets them, and re-runs replay. */
  durable: Durability | undefined;
  ended(): boolean;
  /** Whether the session runs (and has not ended). */
  running(): boolean;
  emit<T extends EventType>(type: T, payload: EventPayloads[T]): void;
  eventInfo(): SessionInfo;
  /** Counts bytes against the output budget; false (and the session ends) when over it. */
  spend(bytes: number, what: string): boolean;
  abort(code: string, message: string): void;
  /** Runs a command on the sandbox (now, or once it is started). */
  sandbox(command: (sandbox: SandboxHandle) => void): void;
  reportProgress(callId: string, update: ToolProgress): void;
  /** The call settled: its last progress report goes first. */
  progressDone(callId: string): void;
  /** The deadline pause of approval waits with their own timeout. */
  pause: DeadlinePause;
  ownerWrite(what: string, write: () => Promise<void>): Promise<boolean | undefined>;
  fence(): SessionFence | undefined;
}

/**
 * A session's tool calls: made by the guest (`onCall`), dispatched to a server tool or shown
 * to the client, and settled once (`settle`: journaled first when the session is durable,
 * then given to the guest by `apply`). A client's answer is claimed in the store first, so
 * that one of two submitters wins.
 */
export class ToolCalls {
  /** Calls not given their outcome yet. */
  private readonly calls = new Map<string, CallState>();
  /** Calls settled (or given their outcome). */
  private readonly resolvedCalls = new Set<string>();
  /** Calls the guest made (this run: a re-run counts again). */
  count = 0;
  /** Deterministic callIds: the same call of a re-run gets the same id. */
  private readonly prefix: string;
  /** What the contexts of this session's tool calls read (see tool-context.ts). */
  private readonly owner: CallOwner;
  /** The approvals of calls to tools with `needsApproval`. */
  readonly approvals: Approvals;

  constructor(private readonly host: ToolCallHost) {
    this.prefix = `c_${hash36(host.sessionId)}_`;
    this.owner = {
      id: host.sessionId,
      identity: host.identity,
      contextFrozen: host.contextFrozen,
      signalOf: (callId) => {
        const call = this.calls.get(callId);
        if (call) return (call.abort ??= new AbortController()).signal;
        // Settled, or the session ended: a signal that has fired.
        return AbortSignal.abort();
      },
      onAbort: (callId, listener) => {
        const call = this.calls.get(callId);
        if (call) (call.onAbort ??= []).push(listener);
        else callAbortListener(listener);
      },
      reportProgress: (callId, update) => host.reportProgress(callId, update),
    };
    this.approvals = new Approvals({
      sessionId: host.sessionId,
      store: host.env.store,
      logger: host.env.logger,
      journal: host.durable?.journal,
      pause: host.pause,
      ended: () => host.ended(),
      running: () => host.running(),
      replaying: () => this.replaying(),
      hasCall: (callId) => this.calls.has(callId),
      isResolved: (callId) => this.resolvedCalls.has(callId),
      toolName: (callId) => this.calls.get(callId)?.toolName,
      settle: (callId, settlement) => this.settle(callId, settlement),
      claim: (key) => this.claim(key),
      emit: (payload) => host.emit('approval_required', payload),
    });
  }

  /** Set while a re-run replays: resolves once it produced again what was emitted before. */
  private replaying(): Promise<void> | undefined {
    const replay = this.host.durable?.replay;
    return replay?.active ? replay.done : undefined;
  }

  has(callId: string): boolean {
    return this.calls.has(callId);
  }

  isResolved(callId: string): boolean {
    return this.resolvedCalls.has(callId);
  }

  toolName(callId: string): string | undefined {
    return this.calls.get(callId)?.toolName;
  }

  /** Client calls still waiting for their answer (what a write-back stores as pending). */
  pendingClientCalls(): string[] {
    const pending: string[] = [];
    for (const [callId, call] of this.calls) if (call.handler === 'client' && !call.settled) pending.push(callId);
    return pending;
  }

  /** The session ended: handlers still running see their signal fire, and no call is left. */
  endAll(): void {
    for (const call of this.calls.values()) {
      call.abort?.abort();
      if (call.onAbort) for (const listener of call.onAbort) callAbortListener(listener);
    }
    this.calls.clear();
  }

  /**
   * A client's answer to one of its tool calls. `claimed` is true when another process
   * already claimed the call in the store.
   */
  async submit(callId: string, input: ToolResultInput, claimed = false): Promise<void> {
    if (!this.host.running()) throw new BrokerError('CONFLICT', 'the session is no longer running');
    const replay = this.replaying();
    if (!this.calls.has(callId) && replay) await replay;
    const call = this.calls.get(callId);
    if (!call || call.settled) {
      if (this.resolvedCalls.has(callId)) throw new BrokerError('CONFLICT', 'this tool call was already resolved');
      throw new BrokerError('NOT_FOUND', `no tool call ${callId} in this session`);
    }
    if (call.handler === 'server') throw new BrokerError('CONFLICT', 'this tool call runs on the server');
    if (!claimed && !(await this.claim(callId))) {
      throw new BrokerError('CONFLICT', 'this tool call was already resolved');
    }
    const current = this.calls.get(callId);
    if (!current || current.settled) throw new BrokerError('CONFLICT', 'this tool call was already resolved');
    const settlement: ToolSettlement = input.error
      ? { ok: false, error: { message: String(input.error.message), code: input.error.code ?? 'TOOL_ERROR' } }
      : encodeResult(input.result, this.host.limits.maxResultBytes);
    // A durable session answers once the result is journaled.
    await this.settle(callId, settlement);
  }

  /**
   * Claims a call in the store. When the store cannot be reached the call is applied anyway:
   * every result ends up in this process, where `calls` lets only the first one through, so
   * the store claim only decides which of two submitters hears 409.
   */
  async claim(callId: string): Promise<boolean> {
    try {
      return await this.host.env.store.claimPendingCall(this.host.sessionId, callId);
    } catch (err) {
      if ((err as { code?: unknown } | undefined)?.code !== 'STORE_UNAVAILABLE') throw err;
      this.host.env.logger.warn({ sessionId: this.host.sessionId, callId }, 'the store is unavailable: applying a tool result without claiming it');
      return true;
    }
  }

  onCall(sandboxId: number, toolName: string, argsJson: string): void {
    if (this.host.ended()) return;
    // Deterministic: the same call of a re-run gets the same id.
    const callId = `${this.prefix}${sandboxId}`;
    this.count++;
    if (this.count > this.host.limits.maxToolCalls) {
      this.host.abort('MAX_TOOL_CALLS', `the session made more than ${this.host.limits.maxToolCalls} tool calls`);
      return;
    }
    if (!this.host.spend(utf8Length(argsJson), 'tool arguments')) return;
    let args: Record<string, unknown>;
    try {
      args = JSON.parse(argsJson) as Record<string, unknown>;
    } catch {
      args = {};
    }
    const route = this.host.env.resolveTool(toolName);
    const handler = route.kind === 'client' ? 'client' : 'server';
    const run = this.host.durable?.run;
    if (run) {
      run.calls.add(callId);
      if (this.calls.has(callId) || run.results.has(callId)) {
        // A re-run reached a call made before: its outcome is journaled, or it is still
        // running (a re-run after a crash): it is not made again.
        if (!this.calls.has(callId)) {
          this.calls.set(callId, this.callState(sandboxId, toolName, handler, args));
        }
        this.host.emit('tool_call', { callId, toolName, args, handler });
        this.host.durable!.feed.pump();
        return;
      }
    }
    this.calls.set(callId, this.callState(sandboxId, toolName, handler, args));
    if (this.host.env.listening('tool:called')) this.host.env.emit('tool:called', this.host.eventInfo(), toolName, args);

    if (route.kind === 'client') {
      // The pending mark must be stored before the client can see the call (a run that a
      // crash replaced meanwhile leaves the event to the next run).
      const show = () => {
        if (this.host.durable?.run === run) this.host.emit('tool_call', { callId, toolName, args, handler });
      };
      void this.host
        .ownerWrite('storing a pending tool call', () => this.host.env.store.addPendingCall(this.host.sessionId, callId, this.host.fence()))
        .then((done) => {
          if (done !== false) show();
        });
      return;
    }
    this.host.emit('tool_call', { callId, toolName, args, handler });
    if (route.kind === 'missing') {
      this.settle(callId, { ok: false, error: { code: 'TOOL_NOT_FOUND', message: `no tool named ${JSON.stringify(toolName)}` } });
      return;
    }
    if (!this.host.allowTool(toolName)) {
      this.settle(callId, {
        ok: false,
        error: { code: 'TOOL_PERMISSION_DENIED', message: `not permitted to call ${JSON.stringify(toolName)}` },
      });
      return;
    }
    void this.runServerTool(callId, route, args);
  }

  private callState(sandboxId: number, toolName: string, handler: 'server' | 'client', args: Record<string, unknown>): CallState {
    const state: CallState = { sandboxId, toolName, handler, startedAt: Date.now() };
    if (logsToolArgs(this.host.env.logger)) state.args = args;
    return state;
  }

  private async runServerTool(callId: string, route: Extract<ToolRoute, { kind: 'registry' | 'handler' }>, rawArgs: Record<string, unknown>): Promise<void> {
    const ownership = this.host.env.ownership;
    // A process paused or cut off past its lease confirms it still owns the session first.
    while (ownership && !ownership.current() && !this.host.ended()) await ownership.confirm();
    const call = this.calls.get(callId);
    if (!call || this.host.ended()) return;
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
    const context = new ToolCallContext(this.owner, callId, call.toolName);
    if (route.kind === 'registry' && route.tool.needsApproval) {
      // Denied, timed out or the session ended: the call is settled (or gone) already.
      if (!(await this.approvals.needed(callId, route.tool, args, context))) return;
      if (this.host.ended() || !this.calls.has(callId)) return;
    }
    const handler = route.kind === 'registry' ? route.tool.handler : route.handler;
    let settlement: ToolSettlement;
    let result: unknown;
    try {
      result = await handler(args, context);
      settlement = encodeResult(result, this.host.limits.maxResultBytes);
    } catch (err) {
      settlement = { ok: false, error: toolError(err, this.host.limits.maxResultBytes) };
    }
    if (!this.calls.has(callId)) return;
    if (settlement.ok && this.host.env.listening('tool:completed')) {
      this.host.env.emit('tool:completed', this.host.eventInfo(), call.toolName, result);
    }
    this.settle(callId, settlement);
  }

  /**
   * A call's outcome. Durable sessions journal it first; it reaches the guest once it is in
   * the store, except a server tool's outcome when that call is all the guest waits for (no
   * other call, no timer, no input queued): the guest gets that one at once, and every event
   * that follows waits for it to be in the store (see `EventLog.flush`). A process that resumes the
   * session after a death in between calls that tool again with the same callId. Resolves
   * once the outcome is journaled.
   */
  settle(callId: string, settlement: ToolSettlement): Promise<void> | undefined {
    const call = this.calls.get(callId);
    if (!call || this.host.ended()) return undefined;
    const journal = this.host.durable?.journal;
    if (!journal) {
      this.apply(callId, settlement);
      return undefined;
    }
    if (call.settled) return undefined;
    call.settled = true;
    this.resolvedCalls.add(callId);
    const run = this.host.durable!.run!;
    const fast =
      !journal.persistent ||
      (call.handler === 'server' && this.calls.size === 1 && run.timers.size === 0 && run.applyPos === journal.inputs.length && run.calls.has(callId));
    // The settlement objects are this session's own: stamped, not copied.
    settlement.at = Date.now();
    const index = journal.append({ kind: 'result', callId, settlement });
    if (fast) run.fastUpTo = Math.max(run.fastUpTo, index + 1);
    this.host.durable!.feed.pump();
    return journal.isDurable(index + 1) ? undefined : journal.whenDurable(index + 1);
  }

  /** Gives the guest a call's outcome (already journaled when the session is durable). */
  apply(callId: string, settlement: ToolSettlement): void {
    const call = this.calls.get(callId);
    if (!call || this.host.ended()) return;
    const received = settlement.ok ? (settlement.resultJson === undefined ? 0 : utf8Length(settlement.resultJson)) : utf8Length(settlement.error.message);
    if (!this.host.spend(received, 'a tool result')) return;
    this.host.progressDone(callId);
    this.calls.delete(callId);
    this.resolvedCalls.add(callId);
    const durationMs = Date.now() - call.startedAt;
    // A re-run gives the journaled outcomes again: their calls were logged by the run before.
    const again = this.host.durable?.replay.pending('tool_result_applied') === true;
    this.host.emit('tool_result_applied', { callId, ok: settlement.ok, durationMs });
    if (!again) {
      const line: Record<string, unknown> = {
        sessionId: this.host.sessionId,
        callId,
        tool: call.toolName,
        handler: call.handler,
        durationMs,
        outcome: settlement.ok ? 'ok' : settlement.error.code,
      };
      if (call.args !== undefined) line.args = call.args;
      this.host.env.logger.info(line, LOG.toolCall);
    }
    this.host.sandbox((sandbox) => sandbox.settleTool(call.sandboxId, settlement));
  }

  /**
   * A timeout says which tool calls it was waiting for: a client tool nobody answers (a
   * misspelled server tool name is one) would otherwise end with a bare TIMEOUT.
   */
  timeoutMessage(message: string): string {
    const waiting = [...this.calls.entries()].filter(([, call]) => !call.settled);
    if (waiting.length === 0) return message;
    const [callId, call] = waiting[0]!;
    const more = waiting.length > 1 ? ` and ${waiting.length - 1} more` : '';
    return `${message} while waiting for ${call.handler === 'client' ? 'client tool' : 'tool'} ${JSON.stringify(call.toolName)} (${callId})${more}`;
  }
}

/** Runs an abort listener; one that throws is ignored (the session ends all the same). */
function callAbortListener(listener: () => void): void {
  try {
    listener();
  } catch {
    // the handler's own failure
  }
}
