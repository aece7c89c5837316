import type { StreamEvent } from '../protocol/events.js';
import type { Journal } from './journal.js';

/**
 * Events whose number and order a re-run need not reproduce (`approval_required` is emitted
 * once per call, whichever run asks: see `Approvals.wait`).
 */
const UNREPLAYED: ReadonlySet<string> = new Set(['session_init', 'heartbeat', 'catalog_changed', 'tool_progress', 'approval_required']);

/** How many times one session's code is re-run after its sandbox crashed, at most. */
export const MAX_SANDBOX_RESTARTS = 3;

/**
 * One run of a durable session's code in one sandbox: how far it got through the journal.
 * The first run of a new session starts with an empty journal; a re-run (after a sandbox
 * crash, or on the process that took the session over) starts with every input recorded so
 * far and gets them again, in order, as it reaches the calls and timers they answer.
 */
export class DurableRun {
  /** Index in `journal.inputs` of the next input to give this run. */
  applyPos = 0;
  /** Inputs before this index may be given before they are durable (see `ToolCalls.settle`). */
  fastUpTo = 0;
  /** Set while waiting for the input at `applyPos` to be durable. */
  waiting = false;
  /** callIds of the tool calls this run has made. */
  readonly calls = new Set<string>();
  /** Journaled tool outcomes this run has not got yet: callId → index. */
  readonly results = new Map<string, number>();
  /** Timers whose journaled firing this run has not got yet. */
  readonly firings = new Set<number>();
  /** Timers this run's guest set and that have not fired (with their host timer when live). */
  readonly timers = new Map<number, ReturnType<typeof setTimeout> | undefined>();

  constructor(
    readonly generation: number,
    journal: Journal,
  ) {
    journal.inputs.forEach((input, i) => {
      if (input.kind === 'result') this.results.set(input.callId, i);
      else this.firings.add(input.timer);
    });
  }

  /** Clears the host timers of this run. */
  dispose(): void {
    for (const timer of this.timers.values()) if (timer !== undefined) clearTimeout(timer);
    this.timers.clear();
  }
}

/** Counts an emitted event of `type` among those a re-run produces again. */
export function countEvent(counts: Map<string, number>, type: string): void {
  if (!UNREPLAYED.has(type)) counts.set(type, (counts.get(type) ?? 0) + 1);
}

/**
 * Counts, per type, the events a re-run will produce again and must not emit twice (those
 * already emitted by the runs before it).
 */
export function replayCounts(events: Iterable<StreamEvent>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) countEvent(counts, e.type);
  return counts;
}
