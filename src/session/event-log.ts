import { PROTOCOL_VERSION, type EventPayloads, type EventType, type StreamEvent } from '../protocol/events.js';
import type { SessionFence, SessionLog, SessionPatch, StoreLifecycle } from '../store/types.js';
import type { Journal } from './journal.js';
import { deferred } from './session-util.js';

/** What a session's event log writes through. */
export interface EventLogTarget {
  sessionId: string;
  store: Pick<StoreLifecycle, 'shared'> & Pick<SessionLog, 'appendEvents' | 'appendEventsNow'>;
  /** A journal in the store: no event is stored before the inputs that led to it are. */
  journal: Journal | undefined;
  /** Whether the session ended (the journal is not kicked any more). */
  ended(): boolean;
  /** What the owner's writes carry (shared stores). */
  fence(): SessionFence | undefined;
  /**
   * One write of the session's state as its owner (see `OwnerWrites.write`): resolves true
   * once written, false when another process owns the session, undefined after a logged failure.
   */
  ownerWrite(what: string, write: () => Promise<void>): Promise<boolean | undefined>;
}

/**
 * A session's events: numbered (`seq`), batched (what is emitted in one turn goes to the
 * store in one write, with the record's patch), and shown to readers once stored.
 */
export class EventLog {
  /** Events already stored, in seq order; what readers see. */
  readonly events: StreamEvent[] = [];
  private seq = 0;
  private queue: StreamEvent[] = [];
  private pendingPatch: SessionPatch | undefined;
  private flushScheduled = false;
  private writes: Promise<void> = Promise.resolve();
  /** No write to the store is in flight (so a synchronous append keeps the order). */
  private writesIdle = true;
  /** Made when a reader waits; resolved (and dropped) when new events are visible. */
  private more: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(private readonly target: EventLogTarget) {}

  /** The events stored before this process took the session over (shown as they are). */
  load(events: readonly StreamEvent[]): void {
    for (const e of events) {
      this.events.push(e);
      this.seq = Math.max(this.seq, e.seq);
    }
  }

  /** A new event with the next seq (not queued: see `push`). */
  envelope<T extends EventType>(type: T, payload: EventPayloads[T]): StreamEvent {
    return {
      protocolVersion: PROTOCOL_VERSION,
      sessionId: this.target.sessionId,
      seq: ++this.seq,
      timestamp: Date.now(),
      type,
      payload,
    } as StreamEvent;
  }

  /** Queues an event for the next write (at the end of this turn). */
  push(event: StreamEvent): void {
    this.queue.push(event);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** A change of the session's record, written with the next batch. */
  patch(patch: SessionPatch): void {
    this.pendingPatch = patch;
  }

  /** Drops what is queued (another process owns the session: nothing more is written). */
  discard(): void {
    this.queue = [];
    this.pendingPatch = undefined;
  }

  /** Resolves when everything emitted so far is stored and visible. */
  settled(): Promise<void> {
    if (this.flushScheduled) this.flush();
    return this.writes;
  }

  /** Shows stored events to readers. */
  show(batch: readonly StreamEvent[]): void {
    for (const e of batch) this.events.push(e);
    this.wake();
  }

  /** Wakes the readers that wait for more. */
  wake(): void {
    const current = this.more;
    this.more = undefined;
    current?.resolve();
  }

  waitForMore(): Promise<void> {
    return (this.more ??= deferred()).promise;
  }

  /** The seq of the last visible event (0 when none). */
  get lastSeq(): number {
    return this.events.length ? this.events[this.events.length - 1]!.seq : 0;
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
    const { journal, store, sessionId } = this.target;
    // Durable sessions store no event before the inputs that led to it are journaled.
    const need = journal ? journal.inputs.length : 0;
    if (journal && !this.target.ended()) journal.kick();
    if (!journal && store.appendEventsNow && this.writesIdle) {
      // A store in this process (memory): stored and visible now, no promise chain per batch.
      store.appendEventsNow(sessionId, batch, patch);
      this.show(batch);
      return;
    }
    this.writesIdle = false;
    const written = (this.writes = this.writes.then(async () => {
      if (journal && !journal.isDurable(need)) await journal.whenDurable(need);
      // A shared store publishes the batch to readers elsewhere in the same step, once stored
      // (and never for a write its fence refused).
      const write = store.shared ? { fence: this.target.fence(), notify: JSON.stringify(batch) } : undefined;
      // Not written because another process owns the session: never shown. A failure that was
      // only logged (not an outage, not fenced) is shown, as the session goes on in memory.
      const done = await this.target.ownerWrite('storing session events', () => store.appendEvents(sessionId, batch, patch, write));
      if (done !== false) this.show(batch);
      if (this.writes === written) this.writesIdle = true;
    }));
  }
}
