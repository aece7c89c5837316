import { unref } from '../util/timers.js';

/**
 * Who reads a session, here and in other processes, and the disconnect grace: once nobody
 * reads, the session is abandoned (`onAbandoned`) unless a reader comes back within `graceMs`.
 */
export class ReaderPresence {
  private count: number;
  private grace: ReturnType<typeof setTimeout> | undefined;
  /** Readers in other processes, each held until its timer lapses or it lets go. */
  private readonly remote = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    /** Whether a reader is attached from the start (the stream that created the session). */
    attached: boolean,
    private readonly graceMs: number,
    /** Whether the session ended (nothing is held or abandoned then). */
    private readonly ended: () => boolean,
    private readonly onAbandoned: () => void,
  ) {
    this.count = attached ? 1 : 0;
  }

  attach(): void {
    this.count++;
    if (this.grace !== undefined) {
      clearTimeout(this.grace);
      this.grace = undefined;
    }
  }

  detach(): void {
    this.count = Math.max(0, this.count - 1);
    if (this.count === 0 && !this.ended()) this.startGrace();
  }

  /**
   * A reader of this session in another process (it follows the stored events). It counts
   * for the disconnect grace like a local one until it lets go or `ttlMs` passes without it
   * renewing the hold (so a reader whose process died is dropped).
   */
  holdRemote(readerId: string, ttlMs: number): void {
    if (this.ended()) return;
    const timer = this.remote.get(readerId);
    if (timer !== undefined) clearTimeout(timer);
    else this.attach();
    const lapse = setTimeout(() => this.releaseRemote(readerId), ttlMs);
    unref(lapse);
    this.remote.set(readerId, lapse);
  }

  releaseRemote(readerId: string): void {
    const timer = this.remote.get(readerId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.remote.delete(readerId);
    this.detach();
  }

  /** Starts the grace (a session nobody reads from its start). */
  startGrace(): void {
    if (this.grace !== undefined || this.ended()) return;
    this.grace = setTimeout(() => {
      this.grace = undefined;
      if (this.count === 0) this.onAbandoned();
    }, this.graceMs);
    unref(this.grace);
  }

  /** The session ended: no timer is left. */
  stop(): void {
    if (this.grace !== undefined) clearTimeout(this.grace);
    this.grace = undefined;
    for (const timer of this.remote.values()) clearTimeout(timer);
    this.remote.clear();
  }
}
