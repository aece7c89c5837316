import type { StreamEvent } from '../protocol/events.js';
import { newSessionId } from '../protocol/ids.js';
import type { PubSub, SessionLog, StoreLifecycle, SessionRecord } from '../store/types.js';
import { unref } from '../util/timers.js';
import type { EventCursor } from './cursor.js';
import type { Recovery } from './recovery.js';
import type { ApprovalDecision } from './approvals.js';
import type { Session } from './session.js';
import { StoreCursor } from './store-cursor.js';
import type { ToolResultInput } from './types.js';

/** What one process sends the owner of a session over pub/sub (`owner:<instanceId>`). */
export type OwnerMessage =
  | { t: 'result'; s: string; c: string; input: ToolResultInput }
  | { t: 'cancel'; s: string }
  /** An approval decision, claimed in the store by the process that received it. */
  | { t: 'approval'; s: string; c: string; d: ApprovalDecision }
  /** A reader in another process follows the session; it holds for `ttl` ms unless renewed. */
  | { t: 'reading'; s: string; r: string; ttl: number }
  | { t: 'detach'; s: string; r: string };

/** Least time a remote reader's presence holds unless renewed (see `follow`). */
const READER_HOLD_MS = 5000;

export interface OwnerRoutingOptions {
  store: Pick<StoreLifecycle, 'shared'> & Pick<SessionLog, 'getSession' | 'readEvents'> & PubSub;
  instanceId: string;
  leaseMs: number;
  /** The sessions this process runs, by id. */
  local: Map<string, Session>;
  recovery: Recovery;
  /** Turns a store failure into the broker's answer (503 STORE_UNAVAILABLE). */
  guard<T>(promise: Promise<T>): Promise<T>;
}

/**
 * Routing between processes that share a store: commands for a session another process runs
 * (tool results, approvals, cancels) go to its owner, and so does the presence of readers
 * that follow it from here; the owner runs what it receives (`listen`).
 */
export class OwnerRouting {
  constructor(private readonly options: OwnerRoutingOptions) {}

  /** Runs the commands other processes send to this one; resolves with the way to stop. */
  listen(): Promise<() => Promise<void>> {
    return this.options.store.subscribe(`owner:${this.options.instanceId}`, (message) => this.onMessage(message));
  }

  /**
   * Sends `message` to the owner of the session `record` names. A tool result or cancel
   * nobody received is sent again (see below) while the session runs.
   */
  async send(record: SessionRecord, message: OwnerMessage): Promise<void> {
    const { store, local, leaseMs } = this.options;
    const text = JSON.stringify(message);
    let owner = record.owner;
    const received = await this.options.guard(store.publish(`owner:${owner}`, text));
    if (received !== 0 || (message.t !== 'result' && message.t !== 'cancel')) return;
    // Nobody listens on the owner's channel (it is reconnecting, or gone): a tool result is in
    // the journal already (a process that resumes the session applies it), but the owner may
    // be back in a moment. Keep sending while the session runs, to its owner of the moment.
    void (async () => {
      const deadline = Date.now() + leaseMs * 4;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        const now = await store.getSession(record.id).catch(() => undefined);
        if (now === undefined) continue;
        if (!now || (now.status !== 'running' && now.status !== 'pending')) return;
        const here = local.get(record.id);
        if (here) {
          if (message.t === 'cancel') here.cancel();
          else here.submitToolResult(message.c, message.input, true).catch(() => {});
          return;
        }
        owner = now.owner;
        if ((await store.publish(`owner:${owner}`, text).catch(() => 0)) !== 0) return;
      }
    })();
  }

  /**
   * Follows a session of another process from the store, telling its owner someone reads
   * (for its disconnect grace). Reading never moves a session: the owner watch started here
   * recovers it (see `Recovery`) once its owner is really gone.
   */
  async follow(id: string, afterSeq: number, accept: ((e: StreamEvent) => boolean) | undefined, seen?: SessionRecord): Promise<EventCursor> {
    const { store, instanceId, local, recovery, leaseMs } = this.options;
    const record = seen ?? (await store.getSession(id));
    const missingGraceMs = leaseMs * 4;
    if (!record || (record.status !== 'running' && record.status !== 'pending')) {
      return new StoreCursor(store, id, afterSeq, { accept });
    }
    const readerId = `${instanceId}:${newSessionId()}`;
    // Renewed every third of it: a loaded process whose messages run late keeps its reader
    // (a reader that vanished is let go within this, then the grace runs).
    const ttl = Math.max(leaseMs * 2, READER_HOLD_MS);
    let owner = record;
    const hold = async () => {
      const here = local.get(id);
      if (here) here.holdRemoteReader(readerId, ttl);
      else await this.send(owner, { t: 'reading', s: id, r: readerId, ttl }).catch(() => {});
    };
    await hold();
    const timer = setInterval(() => void hold(), Math.max(10, Math.floor(ttl / 3)));
    unref(timer);
    // The owner watch: recovers the session when its owner is gone, follows it when it moved.
    const check = async () => {
      const now = await store.getSession(id);
      if (now && (await recovery.recoverIfLost(now))) {
        owner = (await store.getSession(id)) ?? now;
        await hold();
      } else if (now && now.owner !== owner.owner) {
        owner = now;
        await hold();
      }
      recovery.moved(readerId, owner.owner);
    };
    recovery.watch(readerId, owner.owner, check);
    return new StoreCursor(store, id, afterSeq, {
      accept,
      missingGraceMs,
      onIdle: check,
      onClose: () => {
        clearInterval(timer);
        recovery.unwatch(readerId);
        const here = local.get(id);
        if (here) here.releaseRemoteReader(readerId);
        else void this.send(owner, { t: 'detach', s: id, r: readerId }).catch(() => {});
      },
    });
  }

  private onMessage(raw: string): void {
    let message: OwnerMessage;
    try {
      message = JSON.parse(raw) as OwnerMessage;
    } catch {
      return;
    }
    const session = this.options.local.get(message.s);
    if (!session) return;
    if (message.t === 'cancel') session.cancel();
    else if (message.t === 'reading') session.holdRemoteReader(message.r, message.ttl);
    else if (message.t === 'detach') session.releaseRemoteReader(message.r);
    else if (message.t === 'approval') session.decide(message.c, message.d, true).catch(() => {});
    else session.submitToolResult(message.c, message.input, true).catch(() => {});
  }
}
