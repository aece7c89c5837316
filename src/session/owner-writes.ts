import type { StreamEvent } from '../protocol/events.js';
import { isFenced, isStoreUnavailable } from '../store/errors.js';
import type { SessionFence, SessionRecord } from '../store/types.js';
import type { JournalEntry } from './journal.js';
import type { SessionEnvironment } from './session-environment.js';

/** What a session's owner writes need from it. */
export interface OwnerWriteHost {
  sessionId: string;
  env: SessionEnvironment;
  expiresAt: number;
  /** Whether another process owns the session now (this copy stopped). */
  lost(): boolean;
  /** Another process owns the session now: this copy stops. */
  loseOwnership(): void;
  /** What this process's writes carry (shared stores). */
  fence(): SessionFence | undefined;
  /** What a write-back stores: the record, the events stored, the journal written, the client calls waiting. */
  snapshot(): { record: SessionRecord; events: StreamEvent[]; journal: JournalEntry[]; pending: string[] };
}

/**
 * The writes of a session's state by its owner, and what they do when a shared store
 * refuses them: another owner stops this copy, a lost record is written back, an outage is
 * waited out.
 */
export class OwnerWrites {
  private restoring: Promise<boolean> | undefined;

  constructor(private readonly host: OwnerWriteHost) {}

  /**
   * Runs one write of the session's state. With a store in this process (or one not shared),
   * a failure is logged and the session goes on. With a shared store, the write is what
   * fences a stale copy: another owner → this copy stops (`loseOwnership`); the record gone →
   * the session is written back (`restore`) and the write made again; an outage → the write
   * is tried again until the store answers (nothing it carries is shown to readers meanwhile,
   * so a process cut off from the store shows nothing another one might contradict). Resolves
   * true once written, false when not (or undefined after a logged failure).
   */
  async write(what: string, write: () => Promise<void>): Promise<boolean | undefined> {
    const shared = this.host.env.store.shared;
    let wait = 50;
    for (let restores = 0; ; ) {
      if (this.host.lost()) return false;
      try {
        await write();
        return true;
      } catch (err) {
        if (this.host.lost()) return false;
        if (isFenced(err)) {
          if (err.state === 'lost') {
            this.host.loseOwnership();
            return false;
          }
          // The store lost the record (a restart without persistence): write the session back
          // (a write-back the store could not take yet is tried again, like any write).
          if (Date.now() < this.host.expiresAt && !this.host.env.closing && restores++ < 20) {
            if (!(await this.restore())) {
              if (this.host.lost()) return false;
              await new Promise((r) => setTimeout(r, wait));
              wait = Math.min(1000, wait * 2);
            }
            continue;
          }
        } else if (shared && isStoreUnavailable(err) && Date.now() < this.host.expiresAt && !this.host.env.closing) {
          await new Promise((r) => setTimeout(r, wait));
          wait = Math.min(1000, wait * 2);
          continue;
        }
        this.host.env.logger.error({ sessionId: this.host.sessionId, err: String(err) }, `${what} failed`);
        return undefined;
      }
    }
  }

  /**
   * Writes the session back to a shared store that lost it (or part of it): the record, the
   * events stored so far, the journal written so far and the client calls still waiting. False
   * when it could not: another process owns the session (this copy stops, `lost`), or the
   * store failed (logged; the caller tries again).
   */
  restore(): Promise<boolean> {
    const store = this.host.env.store;
    if (this.host.lost() || !store.restoreSession || !this.host.fence()) return Promise.resolve(false);
    this.restoring ??= (async () => {
      try {
        const answer = await store.restoreSession!({ ...this.host.snapshot(), fence: this.host.fence()! });
        if (answer === 'lost') {
          this.host.loseOwnership();
          return false;
        }
        this.host.env.logger.warn({ sessionId: this.host.sessionId }, 'the store had lost the session: written back');
        return true;
      } catch (err) {
        this.host.env.logger.error({ sessionId: this.host.sessionId, err: String(err) }, 'writing the session back failed');
        return false;
      } finally {
        this.restoring = undefined;
      }
    })();
    return this.restoring;
  }
}
