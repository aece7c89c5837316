import type { StreamEvent } from '../protocol/events.js';
import type { SessionJournal } from '../store/types.js';
import { unref } from '../util/timers.js';
import type { JournalApproval, JournalEntry, JournalInput, JournalSpec, JournalStop } from './journal-entries.js';
import type { Logger } from '../logger.js';

export type {
  JournalApproval,
  JournalDecision,
  JournalEntry,
  JournalInput,
  JournalMail,
  JournalResult,
  JournalSpec,
  JournalStop,
  JournalTimer,
} from './journal-entries.js';
export { readJournalEntries } from './journal-entries.js';

export interface ResumeState {
  spec: JournalSpec;
  journal: JournalEntry[];
  /** Every event already stored. */
  events: StreamEvent[];
  expiresAt: number;
  /** The instance that ran the session before (for the log line). */
  previousOwner?: string;
}

/** Where a journal is kept beyond this process (a shared or persistent store). */
export interface JournalTarget {
  store: Partial<SessionJournal>;
  sessionId: string;
  expiresAt: number;
  logger: Logger;
  /**
   * Writes entries (else `store.appendJournal`): the session passes its owner write, which
   * carries its fence and retries an outage; it resolves either way (false: not written).
   */
  append?(entries: JournalEntry[]): Promise<unknown>;
}

/** Inputs one session may journal (timer firings mostly: tool calls have `maxToolCalls`). */
export const MAX_JOURNAL_INPUTS = 20_000;
/** Bytes of tool results and errors one session may journal. */
export const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;

/**
 * The journal of a durable session: every input the guest got (tool outcomes, timer
 * firings), in order, kept in memory for a re-run after a sandbox crash and, with a
 * `target`, written to the store so another process can resume the session.
 *
 * Store writes are batched: while one is in flight, new inputs wait and go in the next one,
 * so a session costs one store round trip per batch, not per input. `durable` counts the
 * inputs known to be in the store; `whenDurable(n)` lets a caller wait for the first `n`.
 * The session stores no event before the inputs that led to it are durable.
 *
 * Bounds: past `MAX_JOURNAL_INPUTS` inputs or `MAX_JOURNAL_BYTES` of results the journal
 * stops (a `stop` entry tells a resuming process so): the session goes on, but can no
 * longer be re-run.
 */
export class Journal {
  /** Inputs in the order the guest gets them (trimmed to what is left to apply once stopped). */
  readonly inputs: JournalInput[] = [];
  /** Inputs (from the start of `inputs` as first recorded) that are in the store. */
  private durableCount = 0;
  private sent = 0;
  private spec: JournalSpec | undefined;
  /** The spec once a write of it completed (what a write-back puts first). */
  private writtenSpec: JournalSpec | undefined;
  private writing = false;
  private waiters: { count: number; resolve: () => void }[] = [];
  /** Entries that are not inputs (approvals), written with the next batch. */
  private notes: JournalApproval[] = [];
  /** Approvals known to be in the store (written back with the inputs, see `durableEntries`). */
  private writtenNotes: JournalApproval[] = [];
  private noteWaiters: (() => void)[] = [];
  private bytes = 0;
  private specTimer: ReturnType<typeof setTimeout> | undefined;
  /** No more store writes: the session ended (nothing left to resume) or the journal stopped. */
  private closed = false;
  /** The session ended: close once what was recorded is written. */
  private finishing = false;
  /** The journal outgrew its bounds: the session can no longer be re-run. */
  stopped = false;

  constructor(private readonly target: JournalTarget | undefined) {
    if (!target) this.closed = true;
  }

  /** Whether the journal goes to a store (else it lives in this process only). */
  get persistent(): boolean {
    return this.target !== undefined;
  }

  /** Whether inputs up to index `count` need no more waiting. */
  isDurable(count: number): boolean {
    return this.closed || this.durableCount >= count;
  }

  /** Resolves once the first `count` inputs are in the store (or there is no store). */
  whenDurable(count: number): Promise<void> {
    if (this.isDurable(count)) return Promise.resolve();
    this.write();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /**
   * The session's spec, written ahead of the first inputs. It is written lazily (with the first
   * inputs, at `kick()`, or after `delayMs`), so a session that ends at once never writes it.
   */
  setSpec(spec: JournalSpec, delayMs: number): void {
    if (this.closed) return;
    this.spec = spec;
    this.specTimer = setTimeout(() => this.write(), delayMs);
    unref(this.specTimer);
  }

  /** Inputs read back from the store (a resumed session): all durable. */
  load(entries: readonly JournalEntry[]): void {
    for (const entry of entries) {
      if (entry.kind === 'result' || entry.kind === 'timer') this.record(entry);
      else if (entry.kind === 'stop') this.stopped = true;
      else if (entry.kind === 'spec') this.writtenSpec = entry;
    }
    this.durableCount = this.sent = this.inputs.length;
  }

  /** Records an input; returns its index. Starts a store write when none is in flight. */
  append(input: JournalInput): number {
    const index = this.inputs.length;
    this.record(input);
    if (!this.stopped && (this.inputs.length > MAX_JOURNAL_INPUTS || this.bytes > MAX_JOURNAL_BYTES)) this.stop();
    else this.write();
    return index;
  }

  /**
   * Records an entry that is not an input of the guest (an approval); resolves once it is in
   * the store (at once without one).
   */
  note(entry: JournalApproval): Promise<void> {
    if (this.closed || !this.target) return Promise.resolve();
    this.notes.push(entry);
    const written = new Promise<void>((resolve) => this.noteWaiters.push(resolve));
    this.write();
    return written;
  }

  /** Writes the spec (if still pending) and any inputs not written yet. */
  kick(): void {
    this.write();
  }

  /**
   * The session emitted its final event: the spec is written only if inputs still are (a
   * session that ended is never resumed, but its events still wait for their inputs), and
   * the journal closes once they are.
   */
  finish(): void {
    if (this.closed) return;
    if (this.specTimer !== undefined) clearTimeout(this.specTimer);
    this.specTimer = undefined;
    if (this.sent >= this.inputs.length && this.notes.length === 0 && !this.writing) this.close();
    else this.finishing = true;
  }

  /** Nothing is written any more and nobody waits. */
  close(): void {
    if (this.specTimer !== undefined) clearTimeout(this.specTimer);
    this.specTimer = undefined;
    this.closed = true;
    this.spec = undefined;
    this.notes = [];
    this.release();
    const noted = this.noteWaiters;
    this.noteWaiters = [];
    for (const resolve of noted) resolve();
  }

  /**
   * The entries known to be in the store, in order (the spec, then the inputs written): what
   * the owner writes back when the store lost the session. Empty before the spec is written.
   */
  durableEntries(): JournalEntry[] {
    if (!this.writtenSpec) return [];
    const out: JournalEntry[] = [this.writtenSpec];
    if (this.stopped) {
      out.push({ kind: 'stop' });
      return out;
    }
    for (let i = 0; i < Math.min(this.durableCount, this.inputs.length); i++) out.push(this.inputs[i]!);
    out.push(...this.writtenNotes);
    return out;
  }

  /** Drops the first `count` inputs (applied ones, once the journal stopped: no re-run needs them). */
  trim(count: number): void {
    if (this.stopped && count > 0) this.inputs.splice(0, count);
  }

  private record(input: JournalInput): void {
    this.inputs.push(input);
    if (input.kind === 'result') {
      const s = input.settlement;
      this.bytes += s.ok ? (s.resultJson?.length ?? 0) : s.error.message.length;
    }
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const target = this.target;
    this.close();
    if (!target) return;
    target.logger.warn({ sessionId: target.sessionId }, 'the session journal outgrew its bounds: the session can no longer be resumed');
    const marker: JournalStop = { kind: 'stop' };
    const written = target.append ? target.append([marker]) : target.store.appendJournal!(target.sessionId, [marker], target.expiresAt);
    written.catch(() => {});
  }

  private write(): void {
    if (this.writing || this.closed || !this.target) return;
    const upto = this.inputs.length;
    const batch: JournalEntry[] = [];
    const spec = this.spec;
    if (spec) {
      batch.push(spec);
      this.spec = undefined;
      if (this.specTimer !== undefined) clearTimeout(this.specTimer);
      this.specTimer = undefined;
    }
    for (let i = this.sent; i < upto; i++) batch.push(this.inputs[i]!);
    let noted: (() => void)[] = [];
    const notes = this.notes;
    if (this.notes.length > 0) {
      batch.push(...this.notes);
      noted = this.noteWaiters;
      this.notes = [];
      this.noteWaiters = [];
    }
    if (batch.length === 0) return;
    this.writing = true;
    this.sent = upto;
    const { store, sessionId, expiresAt, logger } = this.target;
    (this.target.append ? this.target.append(batch) : store.appendJournal!(sessionId, batch, expiresAt))
      .catch((err: unknown) => {
        // The session goes on in memory (as it does when storing events fails); only a resume
        // after this point could go wrong.
        logger.error({ sessionId, err: String(err) }, 'journaling a session input failed');
      })
      .then(() => {
        this.writing = false;
        if (spec) this.writtenSpec = spec;
        this.durableCount = Math.max(this.durableCount, upto);
        this.writtenNotes.push(...notes);
        this.release();
        for (const resolve of noted) resolve();
        if (this.sent < this.inputs.length || this.notes.length > 0) this.write();
        else if (this.finishing) this.close();
      });
  }

  private release(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => this.isDurable(w.count));
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !this.isDurable(w.count));
    for (const w of ready) w.resolve();
  }
}
