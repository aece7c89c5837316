import type { StreamEvent } from '../protocol/events.js';

/** Reads events in order from some source, waiting for new ones; `undefined` at the end. */
export interface EventCursor {
  next(): Promise<StreamEvent | undefined>;
  /** Events available now without waiting (may be empty). */
  drain(max: number): StreamEvent[];
  /** Stops reading; a pending `next()` resolves with `undefined`. */
  close(): void;
}

/** What a local cursor reads: an append-only array of events plus a way to wait for more. */
export interface EventSource {
  readonly events: readonly StreamEvent[];
  /** True once `final` is in `events`. */
  readonly complete: boolean;
  waitForMore(): Promise<void>;
  /**
   * Once `complete` without a `final` (the copy in this process stopped: another process
   * owns the session), a cursor that goes on from the store after `afterSeq`.
   */
  successor?(afterSeq: number, accept: ((e: StreamEvent) => boolean) | undefined): Promise<EventCursor> | undefined;
}

/** A cursor over a session running in this process (seq `n` sits at index `n - 1`). */
export class LocalCursor implements EventCursor {
  private index: number;
  private closed = false;
  private wake: (() => void) | undefined;
  /** Where reading goes on once the source handed the session over (see `successor`). */
  private next2: EventCursor | undefined;

  constructor(
    private readonly source: EventSource,
    afterSeq: number,
    private readonly accept: ((e: StreamEvent) => boolean) | undefined,
    private readonly onClose: () => void,
  ) {
    this.index = Math.max(0, afterSeq);
  }

  async next(): Promise<StreamEvent | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      if (this.next2) return this.next2.next();
      const events = this.source.events;
      while (this.index < events.length) {
        const e = events[this.index++]!;
        if (!this.accept || this.accept(e)) return e;
      }
      if (this.source.complete) {
        const successor = this.source.successor?.(this.index, this.accept);
        if (successor) {
          const cursor = await successor.catch(() => undefined);
          if (cursor && !this.closed) {
            this.next2 = cursor;
            continue;
          }
          cursor?.close();
        }
        this.close();
        return undefined;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.source.waitForMore().then(resolve);
      });
      this.wake = undefined;
    }
  }

  drain(max: number): StreamEvent[] {
    if (this.next2) return this.next2.drain(max);
    const out: StreamEvent[] = [];
    const events = this.source.events;
    while (!this.closed && out.length < max && this.index < events.length) {
      const e = events[this.index++]!;
      if (!this.accept || this.accept(e)) out.push(e);
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    this.next2?.close();
    this.onClose();
  }
}
