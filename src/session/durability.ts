import { DurableRun, MAX_SANDBOX_RESTARTS } from './durable-run.js';
import { Journal, type JournalEntry, type JournalSpec } from './journal.js';
import type { SessionEnvironment, SessionInit } from './session-environment.js';
import { JournalFeed, ReplayedEvents, type JournalFeedHost } from './replay.js';

/** A durable session that is still running after this long writes its spec (shorter ones never do). */
const SPEC_DELAY_MS = 20;

/**
 * What makes a session durable: its journal, the current run of its code, the events a
 * re-run must not emit twice, and the feed that gives each run its inputs from the journal.
 */
export class Durability {
  /** The events a re-run produces again, which are not emitted twice. */
  readonly replay = new ReplayedEvents();
  /** Feeds each run its inputs from the journal. */
  readonly feed: JournalFeed;
  /** The current run of the code (a new one after a sandbox crash). */
  run: DurableRun | undefined;
  /** Re-runs after a sandbox crash so far. */
  restarts = 0;

  constructor(
    /** Every input the guest got, in order (see journal.ts). */
    readonly journal: Journal,
    host: Omit<JournalFeedHost, 'journal' | 'run'>,
  ) {
    this.feed = new JournalFeed({ ...host, journal, run: () => this.run });
  }

  /**
   * The durability of a session made with `init`, if it is durable (or resumed): its journal
   * lives in this process, and also in the store with `journalInStore` (always for a resumed
   * session), written through `append` (the owner's fenced write).
   */
  static of(
    init: SessionInit,
    env: SessionEnvironment,
    expiresAt: number,
    append: (entries: JournalEntry[]) => Promise<unknown>,
    host: Omit<JournalFeedHost, 'journal' | 'run'>,
  ): Durability | undefined {
    if (init.durable !== true && init.resume === undefined) return undefined;
    const persist = init.journalInStore === true || init.resume !== undefined;
    const journal = new Journal(persist ? { store: env.store, sessionId: init.id, expiresAt, logger: env.logger, append } : undefined);
    return new Durability(journal, host);
  }

  /**
   * A new session's spec (what it takes to run it again), the journal's first entry when it
   * goes to the store: written with the first inputs or events, or soon; a session that ends
   * at once never writes it.
   */
  writeSpec(spec: Omit<JournalSpec, 'kind'>): void {
    if (this.journal.persistent) this.journal.setSpec({ kind: 'spec', ...spec }, SPEC_DELAY_MS);
  }

  /** A new run of the code (the first, or one after a crash). */
  nextRun(): DurableRun {
    this.run = new DurableRun((this.run?.generation ?? 0) + 1, this.journal);
    return this.run;
  }

  /** Whether the journal still allows a re-run after a sandbox crash. */
  get mayRestart(): boolean {
    return !this.journal.stopped && this.restarts < MAX_SANDBOX_RESTARTS;
  }

  /** A re-run after a crash: the old run's timers stop, and what it emitted is produced again. */
  restart(): void {
    this.restarts++;
    this.run?.dispose();
    this.replay.rerun();
  }

  /** The session ended: no run goes on; the journal closes once what it recorded is written. */
  finish(): void {
    this.run?.dispose();
    this.journal.finish();
    if (this.replay.active) this.replay.end();
  }

  /** Another process owns the session: nothing more is run or written. */
  close(): void {
    this.run?.dispose();
    this.journal.close();
  }
}
