import type { StreamEvent } from '../protocol/events.js';
import type { PubSub, SessionLog, StoreLifecycle, Unsubscribe } from '../store/types.js';
import type { EventCursor } from './cursor.js';

/** How long a follower waits for a notification before it reads the store anyway. */
const POLL_FALLBACK_MS = 1000;
/** Store failures in a row (one per POLL_FALLBACK_MS) after which the cursor gives up. */
const MAX_FAILURES = 30;

export interface StoreCursorOptions {
  accept?: ((e: StreamEvent) => boolean) | undefined;
  /**
   * Called after a poll-fallback wait brought nothing new while the session still runs: the
   * moment to check that its owner is alive (and end it as lost if not).
   */
  onIdle?: () => Promise<void>;
  /** Called once when the cursor closes. */
  onClose?: () => void;
  /**
   * Given for a session seen running: how long its record, should it vanish, is waited for
   * before the cursor ends (a store that restarted empty gets it back from the owner).
   * Default 0: at once.
   */
  missingGraceMs?: number;
}

/**
 * Replays a session's stored events after a seq and follows new ones, for sessions this
 * process does not run. The owner publishes every stored batch on `ev:<sessionId>`: a batch
 * that continues what the cursor has is taken as it is (no store read); anything else (a gap,
 * or a notification lost) makes the cursor read the store. Without notifications it reads
 * the store every POLL_FALLBACK_MS. No event is missed or repeated.
 */
export class StoreCursor implements EventCursor {
  private queue: StreamEvent[] = [];
  private lastSeq: number;
  private done = false;
  private closed = false;
  /** A notification arrived since the last store read started. */
  private notified = false;
  private wake: (() => void) | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private subscribing = false;
  private failures = 0;
  /** When the record was first found missing (after being seen running), if it still is. */
  private missingSince: number | undefined;
  private seenRunning = false;

  constructor(
    private readonly store: Pick<StoreLifecycle, 'shared'> & Pick<SessionLog, 'getSession' | 'readEvents'> & Pick<PubSub, 'subscribe'>,
    private readonly sessionId: string,
    afterSeq: number,
    private readonly options: StoreCursorOptions = {},
  ) {
    this.lastSeq = afterSeq;
    this.seenRunning = (options.missingGraceMs ?? 0) > 0;
  }

  async next(): Promise<StreamEvent | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const e = this.queue.shift();
      if (e) {
        if (e.type === 'final') this.done = true;
        if (!this.options.accept || this.options.accept(e)) return e;
        continue;
      }
      if (this.done) {
        this.close();
        return undefined;
      }
      try {
        await this.fill();
        this.failures = 0;
      } catch (err) {
        if (++this.failures > MAX_FAILURES) throw err;
        await this.waitForNotification(POLL_FALLBACK_MS);
      }
    }
  }

  drain(max: number): StreamEvent[] {
    const out: StreamEvent[] = [];
    while (!this.closed && out.length < max && this.queue.length > 0) {
      const e = this.queue.shift()!;
      if (e.type === 'final') this.done = true;
      if (!this.options.accept || this.options.accept(e)) out.push(e);
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    const off = this.unsubscribe;
    this.unsubscribe = undefined;
    void off?.().catch(() => {});
    this.options.onClose?.();
  }

  /** Queues new events: from the store, or from a notification, or decides the end. */
  private async fill(): Promise<void> {
    if (this.store.shared && !this.unsubscribe && !this.subscribing) {
      // Subscribed before the first read, so no batch stored after that read goes unnoticed.
      this.subscribing = true;
      try {
        const off = await this.store.subscribe(`ev:${this.sessionId}`, (m) => this.onNotification(m));
        if (this.closed) void off().catch(() => {});
        else this.unsubscribe = off;
      } finally {
        this.subscribing = false;
      }
    }
    this.notified = false;
    if (this.take(await this.store.readEvents(this.sessionId, this.lastSeq)) || this.queue.length > 0) return;
    const record = await this.store.getSession(this.sessionId);
    if (this.queue.length > 0) return;
    if (!record && this.seenRunning && this.options.missingGraceMs) {
      // Gone while it ran: the store may have restarted; its owner writes it back.
      this.missingSince ??= Date.now();
      if (Date.now() - this.missingSince < this.options.missingGraceMs) {
        await this.waitForNotification(Math.min(POLL_FALLBACK_MS, this.options.missingGraceMs / 4));
        return;
      }
    }
    if (!record || (record.status !== 'running' && record.status !== 'pending' && record.lastSeq <= this.lastSeq)) {
      this.done = true;
      return;
    }
    this.missingSince = undefined;
    if (record.status === 'running' || record.status === 'pending') this.seenRunning = true;
    if (this.notified) return;
    const woken = await this.waitForNotification(POLL_FALLBACK_MS);
    if (!woken && !this.closed && this.options.onIdle) await this.options.onIdle();
  }

  /** Appends events after `lastSeq`; true when any was new. */
  private take(events: StreamEvent[]): boolean {
    let added = false;
    for (const e of events) {
      if (e.seq <= this.lastSeq) continue;
      this.queue.push(e);
      this.lastSeq = e.seq;
      added = true;
    }
    return added;
  }

  private onNotification(message: string): void {
    this.notified = true;
    try {
      const batch = JSON.parse(message) as StreamEvent[];
      // Only a batch that continues what we have: a gap is filled from the store instead.
      if (!this.done && Array.isArray(batch) && batch.length > 0 && batch[0]!.seq <= this.lastSeq + 1) this.take(batch);
    } catch {
      // Not a batch: a plain wake-up.
    }
    this.wake?.();
  }

  /** True when a notification (or close) ended the wait, false after `ms`. */
  private waitForNotification(ms: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, ms);
      this.wake = () => {
        this.wake = undefined;
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}
