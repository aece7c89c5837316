import type { ResumeState } from './journal.js';

/**
 * The time a session's calls spend waiting for approvals that have their own timeout
 * (`approvalTimeoutMs`): it does not count against the execution timeout, so the sandbox's
 * deadline moves by it (`extend`). Overlapping waits pause the clock once.
 */
export class DeadlinePause {
  /** Time paused by waits that ended (ms). */
  private pausedMs = 0;
  /** While such waits run: since when, how far the deadline was moved for them, and each wait's end. */
  private pause: { since: number; shifted: number; waits: Map<string, number> } | undefined;

  constructor(private readonly extend: (deltaMs: number) => void) {}

  /** How far the deadline is moved now (ms): for a new sandbox's timeout. */
  get shiftMs(): number {
    return this.pausedMs + (this.pause?.shifted ?? 0);
  }

  /**
   * A wait that must not count against the execution timeout began at `since` and ends by
   * `until`: the sandbox's deadline moves so that it cannot pass during the wait.
   */
  begin(callId: string, since: number, until: number): void {
    const pause = (this.pause ??= { since, shifted: 0, waits: new Map() });
    pause.waits.set(callId, until);
    const need = until - pause.since;
    if (need <= pause.shifted) return;
    const delta = need - pause.shifted;
    pause.shifted = need;
    this.extend(delta);
  }

  /** Such a wait ended: once none is left, the deadline is moved back to count exactly the time paused. */
  end(callId: string): void {
    const pause = this.pause;
    if (!pause?.waits.delete(callId) || pause.waits.size > 0) return;
    this.pause = undefined;
    const waited = Math.max(0, Date.now() - pause.since);
    this.pausedMs += waited;
    const delta = waited - pause.shifted;
    if (delta !== 0) this.extend(delta);
  }

  /**
   * A resumed session: the time its earlier runs paused for approvals with their own timeout
   * (from each `approval_required` to its decision), and the waits still running (their
   * calls ask again in the re-run, which finds them paused already).
   */
  restore(resume: ResumeState, approvalTimeoutMs: (toolName: string) => number | undefined): void {
    const decided = new Map<string, number>();
    for (const entry of resume.journal) {
      if (entry.kind === 'approved') decided.set(entry.callId, entry.at);
      else if (entry.kind === 'result' && entry.settlement.at !== undefined && !decided.has(entry.callId)) decided.set(entry.callId, entry.settlement.at);
    }
    const spans: [number, number][] = [];
    for (const e of resume.events) {
      if (e.type !== 'approval_required') continue;
      const limit = approvalTimeoutMs(e.payload.toolName);
      if (limit === undefined) continue;
      const end = decided.get(e.payload.callId);
      if (end !== undefined) spans.push([e.timestamp, Math.min(end, e.timestamp + limit)]);
      else {
        const pause = (this.pause ??= { since: e.timestamp, shifted: 0, waits: new Map() });
        pause.since = Math.min(pause.since, e.timestamp);
        pause.waits.set(e.payload.callId, e.timestamp + limit);
      }
    }
    if (this.pause) {
      const pause = this.pause;
      pause.shifted = Math.max(0, ...[...pause.waits.values()].map((until) => until - pause.since));
    }
    spans.sort((a, b) => a[0] - b[0]);
    let end = -Infinity;
    for (const [from, to] of spans) {
      // Time already inside an earlier span, or inside the pause still running, counts once.
      const start = Math.max(from, end);
      const stop = this.pause ? Math.min(to, this.pause.since) : to;
      if (stop > start) this.pausedMs += stop - start;
      end = Math.max(end, to);
    }
  }
}
