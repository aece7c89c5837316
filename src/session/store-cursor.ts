import type { StreamEvent } from '../protocol/events.js';
import type { BrokerStore, Unsubscribe } from '../store/types.js';
import type { EventCursor } from './cursor.js';

/** How long a follower waits for a notification before it reads the store anyway. */
const POLL_FALLBACK_MS = 1000;

/**
 * Replays a session's stored events after a seq and follows new ones, for sessions this
 * process does not run: it re-reads the store whenever the owner announces a write
 * (store pub/sub), so no event is missed or repeated.
 */
export class StoreCursor implements EventCursor {
  private queue: StreamEvent[] = [];
  private lastSeq: number;
  private done = false;
  private closed = false;
  private wake: (() => void) | undefined;
  private unsubscribe: Promise<Unsubscribe> | undefined;

  constructor(
    private readonly store: BrokerStore,
    private readonly sessionId: string,
    afterSeq: number,
    private readonly accept: ((e: StreamEvent) => boolean) | undefined,
  ) {
    this.lastSeq = afterSeq;
  }

  async next(): Promise<StreamEvent | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      const e = this.queue.shift();
      if (e) {
        if (e.type === 'final') this.done = true;
        if (!this.accept || this.accept(e)) return e;
        continue;
      }
      if (this.done) {
        this.close();
        return undefined;
      }
      if (this.store.shared) this.unsubscribe ??= this.store.subscribe(`ev:${this.sessionId}`, () => this.wake?.());
      const events = await this.store.readEvents(this.sessionId, this.lastSeq);
      if (events.length > 0) {
        this.queue.push(...events);
        this.lastSeq = events[events.length - 1]!.seq;
        continue;
      }
      const record = await this.store.getSession(this.sessionId);
      if (!record || (record.status !== 'running' && record.status !== 'pending' && record.lastSeq <= this.lastSeq)) {
        this.done = true;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_FALLBACK_MS);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  drain(max: number): StreamEvent[] {
    const out: StreamEvent[] = [];
    while (!this.closed && out.length < max && this.queue.length > 0) {
      const e = this.queue.shift()!;
      if (e.type === 'final') this.done = true;
      if (!this.accept || this.accept(e)) out.push(e);
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    void this.unsubscribe?.then((off) => off()).catch(() => {});
  }
}
