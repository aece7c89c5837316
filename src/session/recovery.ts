import { PROTOCOL_VERSION, type EventPayloads, type StreamEvent } from '../protocol/events.js';
import type { PubSub, SessionJournal, SessionLeases, SessionLog, SessionRecord, StoreLifecycle } from '../store/types.js';
import { permissionMatcher } from '../tools/permissions.js';
import { utf8Length } from '../util/bytes.js';
import { unref } from '../util/timers.js';
import { readJournalEntries } from './journal.js';
import type { OwnerLease } from './owner-lease.js';
import type { SessionEnvironment } from './session-environment.js';
import { Session } from './session.js';
import type { Logger } from '../logger.js';

export interface RecoveryOptions {
  store: Pick<StoreLifecycle, 'shared' | 'persistent'> &
    Pick<SessionLog, 'getSession' | 'readEvents'> &
    SessionLeases &
    Partial<SessionJournal> &
    Pick<PubSub, 'publish'>;
  instanceId: string;
  logger: Logger;
  lease: OwnerLease;
  /** Whether journals are in the store (a lost session is resumed, not ended). */
  journalInStore: boolean;
  /** How often the owners of followed sessions are checked (ms). */
  watchMs: number;
  /** The sessions this process runs, by id: a resumed one is added. */
  local: Map<string, Session>;
  env: SessionEnvironment;
}

/**
 * Lost sessions: a session whose owner is gone is resumed here (durable sessions) or ended
 * with SESSION_LOST. Recovery is decided in three places only, never by reading a record:
 * the owner watch of a session followed from here (`watch`, and its reader's idle check),
 * a write that needs an owner (a tool result, a cancel: `recoverIfLost`), and `recover` (a
 * Durable Object's alarm).
 */
export class Recovery {
  /** Sessions of other processes followed from here, checked as soon as their owner's lease lapses. */
  private readonly watched = new Map<string, { owner: string; check: () => Promise<void> }>();
  private watchTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;

  constructor(private readonly options: RecoveryOptions) {}

  /**
   * Resumes (or ends as lost) a session this process's store holds but no process runs: for
   * a Durable Object that restarted, from its alarm.
   */
  async recover(id: string): Promise<void> {
    if (this.options.local.has(id)) return;
    const record = await this.options.store.getSession(id);
    if (record) await this.recoverIfLost(record);
  }

  /**
   * Resumes here (durable sessions), or else ends with SESSION_LOST (an `error` and a `final`
   * with the next seqs, status `error`), a session whose owner is gone: its lease lapsed and it
   * has not renewed the session for the lease's length (the store checks both, with the
   * takeover), or it is this process's id but the session is not here (a restart under the
   * same id). The store makes it happen once, whichever processes try together. Called by the
   * watcher of a followed session, by writes that need an owner and by `recover`, never by a
   * read. True when the record changed (by us or someone else).
   */
  async recoverIfLost(record: SessionRecord): Promise<boolean> {
    const { store, instanceId, logger, lease } = this.options;
    if (record.status !== 'running' && record.status !== 'pending') return false;
    const self = record.owner === instanceId;
    // Without a shared store only this process runs sessions: one of its own that it does
    // not run is left from before it restarted (a Durable Object's store outlives its object).
    if (!store.shared && !(self && store.persistent === true)) return false;
    if (self ? this.options.local.has(record.id) : await lease.ownerAlive(record.owner)) return false;
    const events = await store.readEvents(record.id, 0);
    const lastSeq = Math.max(record.lastSeq, events[events.length - 1]?.seq ?? 0);
    if (this.options.journalInStore) {
      const resumed = await this.resume(record, lastSeq, self);
      // Resumable but not now (its owner renewed it lately, or someone else moved it): never
      // end as lost what can still be resumed.
      if (resumed !== 'no-journal') return resumed === 'moved';
    }
    const now = Date.now();
    const ending = lostEnding(record, events, lastSeq, now);
    const patch = { status: 'error' as const, endedAt: now, errorCode: 'SESSION_LOST', lastSeq: lastSeq + 2 };
    const won = await store.takeOverSession(record.id, { owner: record.owner, lastSeq, ignoreLease: self, leaseMs: lease.leaseMs }, ending, patch);
    if (won) {
      logger.warn({ sessionId: record.id, owner: record.owner }, 'session lost: its owner stopped');
      await store.publish(`ev:${record.id}`, JSON.stringify(ending)).catch(() => {});
      return true;
    }
    const after = await store.getSession(record.id);
    return !!after && (after.status !== record.status || after.lastSeq !== record.lastSeq);
  }

  /**
   * Resumes a durable session whose owner is gone, on this process: takes it over in the
   * store (once, whichever processes try together), then runs its code again in a fresh
   * sandbox fed from its journal (see `Session`). `moved`: it runs here now, or another process
   * moved it first; `not-now`: its owner is not gone yet (it renewed the session lately);
   * `no-journal`: it cannot be resumed (it was not durable, or its journal outgrew its bounds).
   */
  private async resume(record: SessionRecord, lastSeq: number, self: boolean): Promise<'moved' | 'not-now' | 'no-journal'> {
    const { store, instanceId, local, lease } = this.options;
    const journal = readJournalEntries(await store.readJournal!(record.id));
    const spec = journal[0];
    // No spec: it was not durable (or ended before its spec was written); a stop entry: its
    // journal outgrew its bounds.
    if (spec?.kind !== 'spec' || journal.some((e) => e.kind === 'stop')) return 'no-journal';
    if (local.has(record.id)) return 'moved';
    const takeover = { owner: record.owner, lastSeq, ignoreLease: self, leaseMs: lease.leaseMs };
    const won = await store.takeOverSession(record.id, takeover, [], { owner: instanceId });
    if (!won) {
      const after = await store.getSession(record.id);
      return after && (after.owner !== record.owner || after.status !== record.status) ? 'moved' : 'not-now';
    }
    // Read after the takeover: nothing can be added by the old owner any more.
    const [events, entries, taken] = await Promise.all([store.readEvents(record.id, 0), store.readJournal!(record.id), store.getSession(record.id)]);
    const identity = spec.identity ?? {};
    const session = new Session(
      {
        id: record.id,
        code: spec.code,
        context: spec.context,
        limits: spec.limits,
        identity,
        tenant: record.tenant,
        owner: instanceId,
        sessionTimeoutMs: record.expiresAt - spec.createdAt,
        basePath: spec.basePath,
        attached: false,
        allowTool: permissionMatcher(identity.permissions),
        durable: true,
        journalInStore: true,
        resume: { spec, journal: readJournalEntries(entries), events, expiresAt: record.expiresAt, ...(record.owner ? { previousOwner: record.owner } : {}) },
        epoch: taken?.owner === instanceId ? (taken.epoch ?? 1) : (record.epoch ?? 1) + 1,
      },
      this.options.env,
    );
    local.set(record.id, session);
    await session.start();
    return 'moved';
  }

  /**
   * The owner watch of a session followed from here (under `key`, one per reader): its
   * owner's lease is polled every `watchMs` so that `check` (which recovers the session when
   * its owner is gone) runs as soon as the lease lapses, not only when a reader next finds
   * nothing new.
   */
  watch(key: string, owner: string, check: () => Promise<void>): void {
    this.watched.set(key, { owner, check });
    if (this.watchTimer !== undefined) return;
    this.watchTimer = setInterval(() => void this.pollOwners(), this.options.watchMs);
    unref(this.watchTimer);
  }

  /** The session followed under `key` moved to `owner`. */
  moved(key: string, owner: string): void {
    const watch = this.watched.get(key);
    if (watch) watch.owner = owner;
  }

  unwatch(key: string): void {
    this.watched.delete(key);
    if (this.watched.size === 0 && this.watchTimer !== undefined) {
      clearInterval(this.watchTimer);
      this.watchTimer = undefined;
    }
  }

  /** Stops every watch (the broker closes). */
  stop(): void {
    if (this.watchTimer !== undefined) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    this.watched.clear();
  }

  private async pollOwners(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const owners = new Set<string>();
      for (const w of this.watched.values()) if (w.owner !== this.options.instanceId) owners.add(w.owner);
      for (const owner of owners) {
        if (await this.options.store.leaseAlive(owner)) continue;
        this.options.lease.forget(owner);
        const checks = [...this.watched.values()].filter((w) => w.owner === owner);
        await Promise.all(checks.map((w) => w.check().catch(() => {})));
      }
    } catch {
      // The store is unreachable: the next tick tries again.
    } finally {
      this.polling = false;
    }
  }
}

/** The `error` and `final` that end a session lost with its owner (SESSION_LOST). */
function lostEnding(record: SessionRecord, events: StreamEvent[], lastSeq: number, now: number): StreamEvent[] {
  const message = 'the process running the session stopped';
  const envelope = <T extends 'error' | 'final'>(seq: number, type: T, payload: EventPayloads[T]) =>
    ({ protocolVersion: PROTOCOL_VERSION, sessionId: record.id, seq, timestamp: now, type, payload }) as StreamEvent;
  let stdoutBytes = 0;
  for (const e of events) if (e.type === 'stdout') stdoutBytes += utf8Length(e.payload.chunk);
  return [
    envelope(lastSeq + 1, 'error', { code: 'SESSION_LOST', message, recoverable: true }),
    envelope(lastSeq + 2, 'final', {
      ok: false,
      error: { code: 'SESSION_LOST', message },
      stats: {
        durationMs: now - record.createdAt,
        toolCallCount: events.filter((e) => e.type === 'tool_call').length,
        stdoutBytes,
      },
    }),
  ];
}
