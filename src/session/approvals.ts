import { BrokerError } from '../protocol/errors.js';
import type { ApprovalRequiredPayload } from '../protocol/events.js';
import { LOG } from '../observability/messages.js';
import type { ToolSettlement } from '../sandbox/types.js';
import type { PendingCalls } from '../store/types.js';
import type { ToolDefinition } from '../tools/types.js';
import { unref } from '../util/timers.js';
import type { DeadlinePause } from './deadline-pause.js';
import type { Journal, ResumeState } from './journal.js';
import type { ToolCallContext } from './tool-context.js';
import { toolError } from './tool-outcome.js';
import type { Logger } from '../logger.js';

/** A decision on a call that waits for approval. */
export interface ApprovalDecision {
  approve: boolean;
  reason?: string;
}

/** The store's pending-call mark of a call that waits for approval (claimed by its decision). */
export function approvalKey(callId: string): string {
  return `a:${callId}`;
}

/** A call that waits for its approval decision (see `Approvals.decide`). */
type ApprovalWait = {
  resolve: (approved: boolean) => void;
  timer?: ReturnType<typeof setTimeout>;
  /** A decision was taken (claimed) and is being applied: no other is. */
  deciding?: boolean;
};

/** What the approvals of a session need from it. */
export interface ApprovalHost {
  sessionId: string;
  store: PendingCalls;
  logger: Logger;
  /** Durable sessions: an approval is journaled before its handler runs. */
  journal: Journal | undefined;
  /** The deadline pause of waits with their own timeout. */
  pause: DeadlinePause;
  ended(): boolean;
  /** Whether the session runs (and has not ended). */
  running(): boolean;
  /** Set while a re-run replays: resolves once it produced again what was emitted before. */
  replaying(): Promise<void> | undefined;
  hasCall(callId: string): boolean;
  isResolved(callId: string): boolean;
  toolName(callId: string): string | undefined;
  settle(callId: string, settlement: ToolSettlement): Promise<void> | undefined;
  /** Claims a pending-call mark in the store (true: this process takes the decision). */
  claim(key: string): Promise<boolean>;
  emit(payload: ApprovalRequiredPayload): void;
}

/**
 * The approvals of a session's tool calls (`needsApproval`): a call waits for a decision
 * (`decide`, or its tool's `approvalTimeoutMs`) before its handler runs; a re-run asks no
 * call approved before, and a call asked before waits for the same decision.
 */
export class Approvals {
  /** Calls whose `approval_required` was emitted (by this run or one before it), and when. */
  private readonly asked = new Map<string, number>();
  /** Calls approved (journaled first, when durable): a re-run runs them without asking. */
  private readonly approved = new Set<string>();
  /** Calls waiting for an approval decision. */
  private readonly awaiting = new Map<string, ApprovalWait>();

  constructor(private readonly host: ApprovalHost) {}

  /** A resumed session: the calls asked and approved by the runs before. */
  load(resume: ResumeState): void {
    for (const e of resume.events) if (e.type === 'approval_required') this.asked.set(e.payload.callId, e.timestamp);
    for (const entry of resume.journal) if (entry.kind === 'approved') this.approved.add(entry.callId);
  }

  isApproved(callId: string): boolean {
    return this.approved.has(callId);
  }

  /** The session ended: every wait ends, denied. */
  endAll(): void {
    for (const wait of this.awaiting.values()) {
      if (wait.timer !== undefined) clearTimeout(wait.timer);
      wait.resolve(false);
    }
    this.awaiting.clear();
  }

  /**
   * Whether the handler of a tool that may need approval runs: at once when it was approved
   * before (a re-run) or the predicate says no approval is needed; else after the decision.
   * False when the call was settled instead (denied, timed out, the predicate threw) or the
   * session ended.
   */
  async needed(callId: string, tool: ToolDefinition, args: Record<string, unknown>, context: ToolCallContext): Promise<boolean> {
    if (this.approved.has(callId)) return true;
    // Asked before (by a run a crash or a resume replaced): the same call waits for the same decision.
    if (!this.asked.has(callId) && typeof tool.needsApproval === 'function') {
      let needed: boolean;
      try {
        needed = !!(await tool.needsApproval(args, context));
      } catch (err) {
        this.host.settle(callId, {
          ok: false,
          error: { code: 'TOOL_ERROR', message: `deciding whether ${tool.name} needs approval failed: ${toolError(err, 0).message}` },
        });
        return false;
      }
      if (this.host.ended() || !this.host.hasCall(callId)) return false;
      if (!needed) return true;
    }
    return this.wait(callId, tool, args);
  }

  private wait(callId: string, tool: ToolDefinition, args: Record<string, unknown>): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const wait: ApprovalWait = { resolve };
      this.awaiting.set(callId, wait);
      const asked = this.asked.get(callId);
      const limit = tool.approvalTimeoutMs;
      if (limit !== undefined) {
        const since = asked ?? Date.now();
        wait.timer = setTimeout(() => void this.timedOut(callId, wait), Math.max(0, since + limit - Date.now()));
        unref(wait.timer);
        this.host.pause.begin(callId, since, since + limit);
      }
      if (asked !== undefined) return;
      this.asked.set(callId, Date.now());
      // The pending mark is stored before the client can see the request (its decision claims it).
      const show = () => {
        if (!this.host.ended() && this.awaiting.get(callId) === wait) this.host.emit({ callId, toolName: tool.name, args });
      };
      this.host.store.addPendingCall(this.host.sessionId, approvalKey(callId)).then(show, (err) => {
        this.host.logger.error({ sessionId: this.host.sessionId, err: String(err) }, 'storing a pending approval failed');
        show();
      });
    });
  }

  /**
   * A decision on a call that waits for approval. `claimed` is true when another process
   * already claimed it in the store. Approving journals the approval, then runs the handler;
   * rejecting settles the call with TOOL_APPROVAL_DENIED. Resolves once the decision is
   * journaled.
   */
  async decide(callId: string, decision: ApprovalDecision, claimed = false): Promise<void> {
    if (!this.host.running()) throw new BrokerError('CONFLICT', 'the session is no longer running');
    const replay = this.host.replaying();
    if (!this.awaiting.has(callId) && replay) await replay;
    const wait = this.awaiting.get(callId);
    if (!wait || wait.deciding) {
      if (this.host.ended()) throw new BrokerError('CONFLICT', 'the session is no longer running');
      if (this.host.hasCall(callId) || this.host.isResolved(callId) || this.asked.has(callId)) {
        throw new BrokerError('CONFLICT', 'this tool call is not waiting for approval');
      }
      throw new BrokerError('NOT_FOUND', `no tool call ${callId} in this session`);
    }
    if (!claimed && !(await this.host.claim(approvalKey(callId)))) {
      throw new BrokerError('CONFLICT', 'this tool call is not waiting for approval');
    }
    if (this.awaiting.get(callId) !== wait || wait.deciding) throw new BrokerError('CONFLICT', 'this tool call is not waiting for approval');
    await this.applyDecision(callId, wait, decision);
  }

  private async applyDecision(callId: string, wait: ApprovalWait, decision: ApprovalDecision): Promise<void> {
    wait.deciding = true;
    if (wait.timer !== undefined) clearTimeout(wait.timer);
    this.host.pause.end(callId);
    this.log(callId, decision.approve ? 'approved' : 'rejected');
    if (decision.approve) {
      this.approved.add(callId);
      // The handler runs only once its approval is journaled (a re-run then never asks again).
      await this.host.journal?.note({ kind: 'approved', callId, at: Date.now() });
      this.awaiting.delete(callId);
      wait.resolve(true);
      return;
    }
    this.awaiting.delete(callId);
    wait.resolve(false);
    const toolName = this.host.toolName(callId);
    const reason = typeof decision.reason === 'string' && decision.reason !== '' ? decision.reason : undefined;
    const message = reason ?? `the call to ${JSON.stringify(toolName ?? '')} was not approved`;
    const error: { code: string; message: string; details?: unknown } = { code: 'TOOL_APPROVAL_DENIED', message };
    if (reason !== undefined) error.details = { reason };
    await this.host.settle(callId, { ok: false, error });
  }

  /** A tool's `approvalTimeoutMs` passed: the call is denied, unless a decision was claimed first. */
  private async timedOut(callId: string, wait: ApprovalWait): Promise<void> {
    if (this.host.ended() || this.awaiting.get(callId) !== wait || wait.deciding) return;
    // A decision another process claimed is on its way: it wins.
    if (!(await this.host.claim(approvalKey(callId)))) return;
    if (this.host.ended() || this.awaiting.get(callId) !== wait || wait.deciding) return;
    wait.deciding = true;
    this.host.pause.end(callId);
    this.log(callId, 'timed out');
    this.awaiting.delete(callId);
    wait.resolve(false);
    await this.host.settle(callId, { ok: false, error: { code: 'TOOL_APPROVAL_DENIED', message: 'approval timed out' } });
  }

  private log(callId: string, decision: 'approved' | 'rejected' | 'timed out'): void {
    const tool = this.host.toolName(callId);
    this.host.logger.info({ sessionId: this.host.sessionId, callId, tool, decision }, LOG.approval);
  }
}
