import type { ToolSettlement } from '../sandbox/types.js';
import { countEvent, replayCounts, type DurableRun } from './durable-run.js';
import type { Journal, JournalDecision, JournalEntry, JournalInput, JournalMail } from './journal.js';
import type { StreamEvent } from '../protocol/events.js';

/**
 * The events a re-run of a durable session's code produces again (after a sandbox crash, or
 * on the process that resumed it): those the runs before it emitted are not emitted twice.
 */
export class ReplayedEvents {
  /** Events emitted so far per type (those a re-run produces again). */
  private readonly emitted = new Map<string, number>();
  /** While a re-run replays: events per type it has not produced again yet. */
  private left: Map<string, number> | undefined;
  /** Resolves once a resumed session produced again every event stored before (or ended). */
  readonly done: Promise<void>;
  private resolve!: () => void;

  constructor() {
    this.done = new Promise((r) => (this.resolve = r));
  }

  /** A resumed session: the events stored before are produced again by its first run. */
  resume(events: Iterable<StreamEvent>): void {
    for (const [type, n] of replayCounts(events)) this.emitted.set(type, n);
    this.left = new Map(this.emitted);
    this.check();
  }

  /** A re-run after a crash: it produces again what was emitted so far. */
  rerun(): void {
    this.left = new Map(this.emitted);
  }

  /** Nothing is replayed (any more): a new session, or one that ended. */
  end(): void {
    this.left = undefined;
    this.resolve();
  }

  /** Whether a re-run replays now. */
  get active(): boolean {
    return this.left !== undefined;
  }

  /** Whether events of `type` are still to be produced again. */
  pending(type: string): boolean {
    return (this.left?.get(type) ?? 0) > 0;
  }

  /** An event of `type` is emitted: true when it is one produced again (not emitted twice). */
  replays(type: string): boolean {
    const left = this.left?.get(type);
    if (left !== undefined && left > 0) {
      this.left!.set(type, left - 1);
      this.check();
      return true;
    }
    countEvent(this.emitted, type);
    return false;
  }

  private check(): void {
    if (!this.left) return;
    for (const n of this.left.values()) if (n > 0) return;
    this.end();
  }
}

/** What feeding a durable session's runs from its journal needs from the session. */
export interface JournalFeedHost {
  journal: Journal;
  /** The current run of the code (a new one after a sandbox crash). */
  run(): DurableRun | undefined;
  ended(): boolean;
  /** Gives the guest a call's outcome. */
  apply(callId: string, settlement: ToolSettlement): void;
  /** Fires the guest's timer with the clock moved to `at`. */
  fireTimer(timer: number, at: number): void;
  /** When the run's execution timeout passes (epoch ms): no timer due then fires live. */
  deadline(): number;
}

/**
 * Feeds a durable session's runs their inputs from the journal, in order: tool outcomes and
 * timer firings. The session runs the guest's timers: a live firing is journaled first, like
 * a tool outcome, so that a re-run gets it at the same point.
 */
export class JournalFeed {
  constructor(private readonly host: JournalFeedHost) {}

  /**
   * Gives the current run the journal's inputs in order: each once it is durable (or may go
   * first, see `ToolCalls.settle`) and the run has reached it (made the call it answers).
   */
  pump(): void {
    const { journal } = this.host;
    const run = this.host.run()!;
    const inputs = journal.inputs;
    while (run.applyPos < inputs.length && !this.host.ended() && !run.waiting) {
      const pos = run.applyPos;
      if (pos >= run.fastUpTo && !journal.isDurable(pos + 1)) {
        run.waiting = true;
        void journal.whenDurable(pos + 1).then(() => {
          run.waiting = false;
          if (this.host.run() === run) this.pump();
        });
        return;
      }
      const input: JournalInput = inputs[pos]!;
      if (input.kind === 'result') {
        if (!run.calls.has(input.callId)) return;
        run.applyPos++;
        run.results.delete(input.callId);
        this.host.apply(input.callId, input.settlement);
      } else {
        run.applyPos++;
        run.firings.delete(input.timer);
        run.timers.delete(input.timer);
        this.host.fireTimer(input.timer, input.at);
      }
    }
    if (journal.stopped && run.applyPos > 0) {
      // No re-run is possible any more: what was given is not kept.
      journal.trim(run.applyPos);
      run.fastUpTo = Math.max(0, run.fastUpTo - run.applyPos);
      run.applyPos = 0;
    }
  }

  /** The guest set a timer: it fires from the journal when its firing is there, else live. */
  timerSet(run: DurableRun, timer: number, ms: number): void {
    if (this.host.ended() || this.host.run() !== run) return;
    // A timer due at or after the deadline never fires live: the deadline ends the run first.
    // (Set a millisecond after it, its host timer could still fire before the sandbox's own.)
    if (run.firings.has(timer) || Date.now() + ms >= this.host.deadline()) {
      run.timers.set(timer, undefined);
      return;
    }
    run.timers.set(
      timer,
      setTimeout(() => this.timerDue(run, timer), ms),
    );
  }

  timerCleared(run: DurableRun, timer: number): void {
    const host = run.timers.get(timer);
    if (host !== undefined) clearTimeout(host);
    run.timers.delete(timer);
  }

  /** A live timer is due: its firing is journaled, then given to the guest in journal order. */
  private timerDue(run: DurableRun, timer: number): void {
    if (this.host.ended() || this.host.run() !== run || !run.timers.has(timer)) return;
    run.timers.delete(timer);
    this.host.journal.append({ kind: 'timer', timer, at: Date.now() });
    this.pump();
  }
}

/**
 * What a resumed session still has to apply from its journal's mail: the client answers and
 * approval decisions another process took for the owner that died before journaling them
 * (those no `result` entry answered, and decisions on calls not approved already).
 */
export function unansweredMail(
  journal: readonly JournalEntry[],
  isApproved: (callId: string) => boolean,
): { results: JournalMail[]; decisions: JournalDecision[] } {
  const answered = new Set<string>();
  for (const entry of journal) if (entry.kind === 'result') answered.add(entry.callId);
  const results: JournalMail[] = [];
  for (const entry of journal) {
    if (entry.kind !== 'mailed-result' || answered.has(entry.callId)) continue;
    answered.add(entry.callId);
    results.push(entry);
  }
  const decisions: JournalDecision[] = [];
  for (const entry of journal) {
    if (entry.kind !== 'mailed-decision' || answered.has(entry.callId) || isApproved(entry.callId)) continue;
    answered.add(entry.callId);
    decisions.push(entry);
  }
  return { results, decisions };
}
