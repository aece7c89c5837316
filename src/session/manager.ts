import { BrokerError } from '../protocol/errors.js';
import {
  compileFilter,
  PROTOCOL_VERSION,
  type CatalogChangedPayload,
  type EventFilter,
  type EventPayloads,
  type StreamEvent,
} from '../protocol/events.js';
import { newSessionId } from '../protocol/ids.js';
import type { Executor } from '../pool/executor.js';
import type { BrokerStore, SessionRecord } from '../store/types.js';
import { permissionMatcher } from '../tools/permissions.js';
import type { CallerIdentity } from '../tools/types.js';
import type { EventCursor } from './cursor.js';
import type { Emitter } from './emitter.js';
import { checkCodeSize, requestLimits, type BrokerLimits } from './limits.js';
import {
  approvalKey,
  Session,
  type ApprovalDecision,
  type JournalDecision,
  type JournalMail,
  type SessionEnvironment,
} from './session.js';
import { readJournalEntries } from './journal.js';
import { StoreCursor } from './store-cursor.js';
import type { ToolRoute } from './tool-resolver.js';
import { ownerKey, sessionInfo, type BrokerEventMap, type Logger, type SessionInfo, type ToolResultInput } from './types.js';
import { unref } from '../util/timers.js';
import { utf8Length } from '../util/bytes.js';

export interface SessionManagerOptions {
  store: BrokerStore;
  executor: Executor;
  resolveTool(name: string): ToolRoute;
  /** The plan of the guest's `tools` object for a caller's permissions (none: no `tools` global). */
  toolNamespace?(permissions?: string[]): string | undefined;
  events: Emitter<BrokerEventMap>;
  logger: Logger;
  limits: BrokerLimits;
  sessionTimeoutMs: number;
  maxConcurrentSessions: number;
  /** Sessions one tenant (or user) may run at once on this process; none when undefined. */
  maxSessionsPerTenant?: number;
  /** This process's id in the store (owner of the sessions it runs). */
  instanceId: string;
  /**
   * TTL of this process's owner lease in a shared store. Another process takes a session of
   * this one over (resumes it, or ends it as SESSION_LOST) only once the lease lapsed and
   * the session's record was not renewed for this long either. Default 750.
   */
  ownerLeaseMs?: number;
  /** How often the lease and the hold on each session are renewed. Default a third of the lease. */
  ownerRenewMs?: number;
  /**
   * How often a process that follows a session of another process (a reader here) checks
   * that its owner's lease is alive. Default 25.
   */
  ownerWatchMs?: number;
  /**
   * Journal each session's inputs (tool outcomes, timer firings) and make its runs
   * replayable, so that a session whose sandbox crashed is re-run from the journal, and,
   * with a store that keeps journals beyond this process (Redis, Upstash, Durable Object
   * storage), a session whose process died is resumed by the next one that touches it
   * (instead of SESSION_LOST). Default true.
   */
  durable?: boolean;
}

export interface CreateSessionInput {
  code: string;
  id?: string;
  context?: Record<string, unknown>;
  limits?: Partial<BrokerLimits>;
  identity?: CallerIdentity;
  basePath?: string;
  /** The caller reads the stream from the start (counts as a reader for the disconnect grace). */
  attached?: boolean;
}

type OwnerMessage =
  | { t: 'result'; s: string; c: string; input: ToolResultInput }
  | { t: 'cancel'; s: string }
  /** An approval decision, claimed in the store by the process that received it. */
  | { t: 'approval'; s: string; c: string; d: ApprovalDecision }
  /** A reader in another process follows the session; it holds for `ttl` ms unless renewed. */
  | { t: 'reading'; s: string; r: string; ttl: number }
  | { t: 'detach'; s: string; r: string };

/**
 * Creates sessions, finds them (here or in the store) and routes commands to their owner.
 *
 * With a shared store, several processes act as one: a session runs in the process that
 * created it (its owner); the others answer from the store and route tool results, cancels
 * and reader presence to the owner over pub/sub (`owner:<instanceId>`). Each process keeps
 * an owner lease in the store and renews its hold on each of its sessions with it; a session
 * whose owner is gone is resumed (or ended with SESSION_LOST) by a process that follows it or
 * gets a write for it. Ownership is fenced by the record's epoch (see `Session.loseOwnership`). `maxConcurrentSessions`, `active` and `totalCreated` (so
 * `GET /health`) are per process.
 */
/** Least time a remote reader's presence holds unless renewed (see `follow`). */
const READER_HOLD_MS = 5000;

export class SessionManager {
  private readonly local = new Map<string, Session>();
  private readonly env: SessionEnvironment;
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly watchMs: number;
  private leaseTimer: ReturnType<typeof setInterval> | undefined;
  private leaseFailing = false;
  /** The renewal in flight, if any. */
  private renewing: Promise<void> | undefined;
  /**
   * Until when (performance.now()) this process's hold on its sessions is known current: the
   * start of the last renewal that succeeded plus most of the lease. No other process can have
   * taken a session over before then.
   */
  private heldUntil = 0;
  /** Owners whose lease was seen alive, until when that answer is trusted. */
  private readonly ownersAlive = new Map<string, number>();
  /** Sessions of other processes followed from here, checked as soon as their owner's lease lapses. */
  private readonly watched = new Map<string, { owner: string; check: () => Promise<void> }>();
  private watchTimer: ReturnType<typeof setInterval> | undefined;
  private watching = false;
  /** Sessions this process created since it started. */
  totalCreated = 0;
  /** Whether sessions are journaled (and re-run after a sandbox crash). */
  readonly durable: boolean;
  /** Whether journals go to the store, so a session is resumed after its process died. */
  readonly journalInStore: boolean;

  constructor(private readonly options: SessionManagerOptions) {
    const { store, executor, events, logger } = options;
    this.leaseMs = Math.max(30, options.ownerLeaseMs ?? DEFAULT_LEASE_MS);
    this.renewMs = Math.max(10, Math.min(options.ownerRenewMs ?? Math.floor(this.leaseMs / 3), Math.floor(this.leaseMs / 2)));
    this.watchMs = Math.max(5, options.ownerWatchMs ?? 25);
    this.durable = options.durable !== false;
    this.journalInStore =
      this.durable &&
      (store.shared || store.persistent === true) &&
      typeof store.appendJournal === 'function' &&
      typeof store.readJournal === 'function';
    this.env = {
      store,
      executor,
      resolveTool: options.resolveTool,
      ...(options.toolNamespace ? { toolNamespace: options.toolNamespace } : {}),
      emit: (event, ...args) => events.emit(event, ...args),
      listening: (event) => events.hasListeners(event),
      logger,
      onEnded: (session) => {
        if (this.local.get(session.id) === session) this.local.delete(session.id);
      },
    };
    if (store.shared) {
      this.env.ownership = {
        current: () => performance.now() < this.heldUntil,
        confirm: () => this.confirmOwnership(),
      };
      this.env.handoff = (id, afterSeq, accept) => this.follow(id, afterSeq, accept);
    }
  }

  /** Where new sandboxes run (set once the broker knows: inline, or the worker pool). */
  setExecutor(executor: Executor): void {
    this.env.executor = executor;
  }

  /** Tells every live session of this process that the OpenAPI catalog changed. */
  broadcastCatalogChange(change: CatalogChangedPayload): void {
    for (const session of this.local.values()) session.notifyCatalogChanged(change);
  }

  /** Sessions of this process that are pending or running (not those of other processes). */
  get active(): number {
    return this.local.size;
  }

  /** Takes the owner lease and listens for commands other processes route to this one. */
  async start(): Promise<void> {
    const { store, instanceId } = this.options;
    if (!store.shared || this.unsubscribe) return;
    const started = performance.now();
    await this.guard(store.renewLease(instanceId, this.leaseMs));
    this.heldUntil = started + this.leaseMs * HELD_SHARE;
    this.unsubscribe = await store.subscribe(`owner:${instanceId}`, (message) => this.onOwnerMessage(message));
    this.leaseTimer ??= setInterval(() => void this.renew(), this.renewMs);
    unref(this.leaseTimer);
  }

  /**
   * Renews the lease and this process's hold on each session it runs (one store round trip):
   * a session another process owns now stops here; one the store lost (it restarted empty) is
   * written back. One renewal at a time.
   */
  private renew(): Promise<void> {
    this.renewing ??= this.renewNow().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewNow(): Promise<void> {
    const { store, instanceId, logger } = this.options;
    const started = performance.now();
    const sessions = [...this.local.values()].filter((s) => s.renewable);
    try {
      const [, states] = await Promise.all([
        store.renewLease(instanceId, this.leaseMs),
        Promise.all(sessions.map((s) => (store.renewSession && s.fence ? store.renewSession(s.id, s.fence) : 'ok'))),
      ]);
      this.heldUntil = Math.max(this.heldUntil, started + this.leaseMs * HELD_SHARE);
      for (let i = 0; i < sessions.length; i++) {
        if (states[i] === 'lost') sessions[i]!.loseOwnership();
        else if (states[i] === 'missing') void sessions[i]!.restore();
      }
      if (this.leaseFailing) logger.info({ instanceId }, 'owner lease renewed again');
      this.leaseFailing = false;
    } catch (err) {
      if (!this.leaseFailing) logger.warn({ err: String(err) }, 'renewing the owner lease failed');
      this.leaseFailing = true;
    }
  }

  /** Resolves once a renewal that started now (or later) is done; waits a little when it failed. */
  private async confirmOwnership(): Promise<void> {
    if (this.renewing) await this.renewing;
    if (performance.now() < this.heldUntil) return;
    await this.renew();
    if (performance.now() >= this.heldUntil) await new Promise((r) => setTimeout(r, Math.min(250, this.renewMs)));
  }

  async create(input: CreateSessionInput): Promise<Session> {
    const { options } = this;
    if (this.local.size >= options.maxConcurrentSessions) {
      throw new BrokerError('TOO_MANY_SESSIONS', `this broker runs ${sessionCount(options.maxConcurrentSessions)} already`, undefined, {
        'Retry-After': '1',
      });
    }
    if (this.env.executor.accepting && !this.env.executor.accepting()) {
      throw new BrokerError('TOO_MANY_SESSIONS', 'no sandbox can start now: the runtime pool is held by running code, or its memory budget is spent', undefined, {
        'Retry-After': '1',
      });
    }
    const tenantKey = ownerKey(input.identity ?? {});
    if (tenantKey !== undefined && options.maxSessionsPerTenant !== undefined) {
      let mine = 0;
      for (const s of this.local.values()) if (s.tenant === tenantKey) mine++;
      if (mine >= options.maxSessionsPerTenant) {
        throw new BrokerError('TOO_MANY_SESSIONS', `this tenant runs ${sessionCount(options.maxSessionsPerTenant)} already`, undefined, { 'Retry-After': '1' });
      }
    }
    const limits = requestLimits(options.limits, input.limits);
    checkCodeSize(input.code, limits);
    if (input.context !== undefined && nestedDeeperThan(input.context, MAX_CONTEXT_DEPTH)) {
      throw new BrokerError('VALIDATION_ERROR', `context nests deeper than ${MAX_CONTEXT_DEPTH} levels`);
    }
    const identity = input.identity ?? {};
    const id = input.id ?? newSessionId();
    if (input.id && (this.local.has(id) || (await this.guard(options.store.getSession(id))))) {
      throw new BrokerError('CONFLICT', `a session ${id} exists already`);
    }
    const session = new Session(
      {
        id,
        code: input.code,
        context: input.context ?? {},
        limits,
        identity,
        tenant: ownerKey(identity),
        owner: options.instanceId,
        sessionTimeoutMs: options.sessionTimeoutMs,
        basePath: input.basePath ?? '',
        attached: input.attached ?? true,
        allowTool: permissionMatcher(identity.permissions),
        durable: this.durable,
        journalInStore: this.journalInStore,
      },
      this.env,
    );
    this.local.set(id, session);
    this.totalCreated++;
    try {
      await session.start();
    } catch (err) {
      this.local.delete(id);
      session.abort('INTERNAL_ERROR', 'the session could not be started');
      throw storeError(err);
    }
    return session;
  }

  /** A session this process runs, if it is visible to `identity`. */
  localSession(id: string, identity: CallerIdentity | undefined): Session | undefined {
    const session = this.local.get(id);
    return session && session.tenant === ownerKey(identity) ? session : undefined;
  }

  async info(id: string, identity: CallerIdentity | undefined): Promise<SessionInfo> {
    const local = this.localSession(id, identity);
    if (local) return local.info();
    return sessionInfo(await this.record(id, identity));
  }

  async list(identity: CallerIdentity | undefined): Promise<SessionInfo[]> {
    const records = await this.guard(this.options.store.listSessions(ownerKey(identity)));
    const byId = new Map(records.map((r) => [r.id, sessionInfo(r)]));
    for (const session of this.local.values()) {
      if (session.tenant === ownerKey(identity)) byId.set(session.id, session.info());
    }
    return [...byId.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Replays events after `afterSeq`, then follows live ones until `final`. */
  async read(id: string, afterSeq: number, identity: CallerIdentity | undefined, filter?: EventFilter): Promise<EventCursor> {
    const accept = compileFilter(filter);
    const local = this.localSession(id, identity);
    if (local) return local.read(afterSeq, accept);
    return this.follow(id, afterSeq, accept, await this.record(id, identity));
  }

  /**
   * Follows a session of another process from the store. Reading never moves a session; the
   * watcher started here resumes it (or ends it as lost) once its owner is really gone.
   */
  private async follow(
    id: string,
    afterSeq: number,
    accept: ((e: StreamEvent) => boolean) | undefined,
    seen?: SessionRecord,
  ): Promise<EventCursor> {
    const record = seen ?? (await this.options.store.getSession(id));
    const missingGraceMs = this.leaseMs * 4;
    if (!record || (record.status !== 'running' && record.status !== 'pending')) {
      return new StoreCursor(this.options.store, id, afterSeq, { accept });
    }
    // Tell the owner someone reads (for its disconnect grace), and keep telling it.
    const readerId = `${this.options.instanceId}:${newSessionId()}`;
    // Renewed every third of it: a loaded process whose messages run late keeps its reader
    // (a reader that vanished is let go within this, then the grace runs).
    const ttl = Math.max(this.leaseMs * 2, READER_HOLD_MS);
    let owner = record;
    const hold = async () => {
      const here = this.local.get(id);
      if (here) here.holdRemoteReader(readerId, ttl);
      else await this.sendToOwner(owner, { t: 'reading', s: id, r: readerId, ttl }).catch(() => {});
    };
    await hold();
    const timer = setInterval(() => void hold(), Math.max(10, Math.floor(ttl / 3)));
    unref(timer);
    const check = async () => {
      const now = await this.options.store.getSession(id);
      if (now && (await this.endIfLost(now))) {
        owner = (await this.options.store.getSession(id)) ?? now;
        await hold();
      } else if (now && now.owner !== owner.owner) {
        owner = now;
        await hold();
      }
      const watch = this.watched.get(readerId);
      if (watch) watch.owner = owner.owner;
    };
    this.watch(readerId, owner.owner, check);
    return new StoreCursor(this.options.store, id, afterSeq, {
      accept,
      missingGraceMs,
      onIdle: check,
      onClose: () => {
        clearInterval(timer);
        this.unwatch(readerId);
        const here = this.local.get(id);
        if (here) here.releaseRemoteReader(readerId);
        else void this.sendToOwner(owner, { t: 'detach', s: id, r: readerId }).catch(() => {});
      },
    });
  }

  async submitToolResult(id: string, callId: string, input: ToolResultInput, identity: CallerIdentity | undefined): Promise<void> {
    const local = this.localSession(id, identity);
    if (local) return local.submitToolResult(callId, input);
    const { store } = this.options;
    let record = await this.record(id, identity);
    // A write that needs an owner: a session whose owner is gone is resumed (or ended) first.
    if (await this.guard(this.endIfLost(record))) record = (await this.guard(store.getSession(id))) ?? record;
    if (record.status !== 'running' && record.status !== 'pending') {
      throw new BrokerError('CONFLICT', 'the session is no longer running');
    }
    const resumed = this.localSession(id, identity);
    if (resumed) return resumed.submitToolResult(callId, input);
    if (!(await this.guard(store.claimPendingCall(id, callId)))) {
      const events = await this.guard(store.readEvents(id, 0));
      const known = events.some((e) => e.type === 'tool_call' && e.payload.callId === callId);
      throw known
        ? new BrokerError('CONFLICT', 'this tool call was already resolved or runs on the server')
        : new BrokerError('NOT_FOUND', `no tool call ${callId} in this session`);
    }
    if (this.journalInStore) {
      // Kept in the session's journal before the client hears 200: should the owner die before
      // it journals the answer, the process that resumes the session applies it (see JournalMail).
      const mail: JournalMail = { kind: 'mailed-result', callId, input };
      await this.guard(store.appendJournal!(id, [mail], record.expiresAt));
    }
    await this.sendToOwner(record, { t: 'result', s: id, c: callId, input });
  }

  /**
   * A decision on a call that waits for approval (`POST /sessions/:id/approvals`), routed to
   * the session's owner like a tool result: claimed in the store (so one decision wins,
   * whichever process gets it), journaled as mail for a process that resumes the session,
   * then sent to the owner.
   */
  async submitApproval(id: string, callId: string, decision: ApprovalDecision, identity: CallerIdentity | undefined): Promise<void> {
    const local = this.localSession(id, identity);
    if (local) return local.decide(callId, decision);
    const { store } = this.options;
    const record = await this.record(id, identity);
    if (record.status !== 'running' && record.status !== 'pending') {
      throw new BrokerError('CONFLICT', 'the session is no longer running');
    }
    const resumed = this.localSession(id, identity);
    if (resumed) return resumed.decide(callId, decision);
    if (!(await this.guard(store.claimPendingCall(id, approvalKey(callId))))) {
      const events = await this.guard(store.readEvents(id, 0));
      const known = events.some((e) => (e.type === 'tool_call' || e.type === 'approval_required') && e.payload.callId === callId);
      throw known
        ? new BrokerError('CONFLICT', 'this tool call is not waiting for approval')
        : new BrokerError('NOT_FOUND', `no tool call ${callId} in this session`);
    }
    if (this.journalInStore) {
      const mail: JournalDecision = { kind: 'mailed-decision', callId, approve: decision.approve };
      if (decision.reason !== undefined) mail.reason = decision.reason;
      await this.guard(store.appendJournal!(id, [mail], record.expiresAt));
    }
    await this.sendToOwner(record, { t: 'approval', s: id, c: callId, d: decision });
  }

  async cancel(id: string, identity: CallerIdentity | undefined): Promise<void> {
    const local = this.localSession(id, identity);
    if (local) {
      local.cancel();
      return;
    }
    let record = await this.record(id, identity);
    if (await this.guard(this.endIfLost(record))) record = (await this.guard(this.options.store.getSession(id))) ?? record;
    const resumed = this.localSession(id, identity);
    if (resumed) resumed.cancel();
    else if (record.status === 'running' || record.status === 'pending') {
      await this.sendToOwner(record, { t: 'cancel', s: id });
    }
  }

  /** Ends every local session (CANCELLED unless told otherwise) and waits until their final events are stored. */
  async close(code = 'CANCELLED', message = 'the broker is shutting down'): Promise<void> {
    if (this.leaseTimer !== undefined) clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
    if (this.watchTimer !== undefined) clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    this.watched.clear();
    this.env.closing = true;
    const sessions = [...this.local.values()];
    for (const s of sessions) s.abort(code, message);
    await Promise.all(sessions.map((s) => s.finished));
    await this.unsubscribe?.().catch(() => {});
    this.unsubscribe = undefined;
  }

  /** The stored record, as it is: reading it never resumes or ends anything. */
  private async record(id: string, identity: CallerIdentity | undefined): Promise<SessionRecord> {
    const record = await this.guard(this.options.store.getSession(id));
    if (!record || record.tenant !== ownerKey(identity) || record.expiresAt <= Date.now()) {
      throw new BrokerError('NOT_FOUND', `no session ${id}`);
    }
    return record;
  }

  /**
   * Resumes here (durable sessions), or else ends with SESSION_LOST (an `error` and a `final`
   * with the next seqs, status `error`), a session whose owner is gone: its lease lapsed and it
   * has not renewed the session for the lease's length (the store checks both, with the
   * takeover), or it is this process's id but the session is not here (a restart under the
   * same id). The store makes it happen once, whichever processes try together. Called by the
   * watcher of a followed session and by writes that need an owner, never by a read. True when
   * the record changed (by us or someone else).
   */
  private async endIfLost(record: SessionRecord): Promise<boolean> {
    const { store, instanceId, logger } = this.options;
    if (record.status !== 'running' && record.status !== 'pending') return false;
    const self = record.owner === instanceId;
    // Without a shared store only this process runs sessions: one of its own that it does
    // not run is left from before it restarted (a Durable Object's store outlives its object).
    if (!store.shared && !(self && store.persistent === true)) return false;
    if (self ? this.local.has(record.id) : await this.ownerAlive(record.owner)) return false;
    const events = await store.readEvents(record.id, 0);
    const lastSeq = Math.max(record.lastSeq, events[events.length - 1]?.seq ?? 0);
    if (this.journalInStore) {
      const resumed = await this.resume(record, lastSeq, self);
      // Resumable but not now (its owner renewed it lately, or someone else moved it): never
      // end as lost what can still be resumed.
      if (resumed !== 'no-journal') return resumed === 'moved';
    }
    const now = Date.now();
    const message = 'the process running the session stopped';
    const envelope = <T extends 'error' | 'final'>(seq: number, type: T, payload: EventPayloads[T]) =>
      ({ protocolVersion: PROTOCOL_VERSION, sessionId: record.id, seq, timestamp: now, type, payload }) as StreamEvent;
    let stdoutBytes = 0;
    for (const e of events) if (e.type === 'stdout') stdoutBytes += utf8Length(e.payload.chunk);
    const ending = [
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
    const patch = { status: 'error' as const, endedAt: now, errorCode: 'SESSION_LOST', lastSeq: lastSeq + 2 };
    const won = await store.takeOverSession(record.id, { owner: record.owner, lastSeq, ignoreLease: self, leaseMs: this.leaseMs }, ending, patch);
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
    const { store, instanceId, logger } = this.options;
    const journal = readJournalEntries(await store.readJournal!(record.id));
    const spec = journal[0];
    // No spec: it was not durable (or ended before its spec was written); a stop entry: its
    // journal outgrew its bounds.
    if (!spec || spec.kind !== 'spec' || journal.some((e) => e.kind === 'stop')) return 'no-journal';
    if (this.local.has(record.id)) return 'moved';
    const takeover = { owner: record.owner, lastSeq, ignoreLease: self, leaseMs: this.leaseMs };
    const won = await store.takeOverSession(record.id, takeover, [], { owner: instanceId });
    if (!won) {
      const after = await store.getSession(record.id);
      return !!after && (after.owner !== record.owner || after.status !== record.status) ? 'moved' : 'not-now';
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
      this.env,
    );
    this.local.set(record.id, session);
    await session.start();
    return 'moved';
  }

  /**
   * Resumes (or ends as lost) a session this process's store holds but no process runs: for
   * a Durable Object that restarted, from its alarm.
   */
  async recover(id: string): Promise<void> {
    if (this.local.has(id)) return;
    const record = await this.options.store.getSession(id);
    if (record) await this.endIfLost(record);
  }

  /**
   * Follows the owner of a session read from here: its lease is polled (every twentieth of
   * the lease, 20 to 50 ms) so that the session is resumed (or ended as lost) as soon as the lease
   * lapses, not only when a reader next finds nothing new.
   */
  private watch(key: string, owner: string, check: () => Promise<void>): void {
    this.watched.set(key, { owner, check });
    if (this.watchTimer !== undefined) return;
    this.watchTimer = setInterval(() => void this.pollOwners(), this.watchMs);
    unref(this.watchTimer);
  }

  private unwatch(key: string): void {
    this.watched.delete(key);
    if (this.watched.size === 0 && this.watchTimer !== undefined) {
      clearInterval(this.watchTimer);
      this.watchTimer = undefined;
    }
  }

  private async pollOwners(): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    try {
      const owners = new Set<string>();
      for (const w of this.watched.values()) if (w.owner !== this.options.instanceId) owners.add(w.owner);
      for (const owner of owners) {
        if (await this.options.store.leaseAlive(owner)) continue;
        this.ownersAlive.delete(owner);
        const checks = [...this.watched.values()].filter((w) => w.owner === owner);
        await Promise.all(checks.map((w) => w.check().catch(() => {})));
      }
    } catch {
      // The store is unreachable: the next tick tries again.
    } finally {
      this.watching = false;
    }
  }

  /** Whether `owner`'s lease is alive; an alive answer is trusted for a third of the TTL. */
  private async ownerAlive(owner: string): Promise<boolean> {
    const now = Date.now();
    if ((this.ownersAlive.get(owner) ?? 0) > now) return true;
    const alive = await this.options.store.leaseAlive(owner);
    if (alive) {
      if (this.ownersAlive.size > 1000) this.ownersAlive.clear();
      this.ownersAlive.set(owner, now + Math.floor(this.leaseMs / 3));
    } else this.ownersAlive.delete(owner);
    return alive;
  }

  private async sendToOwner(record: SessionRecord, message: OwnerMessage): Promise<void> {
    const { store } = this.options;
    const text = JSON.stringify(message);
    let owner = record.owner;
    const received = await this.guard(store.publish(`owner:${owner}`, text));
    if (received !== 0 || (message.t !== 'result' && message.t !== 'cancel')) return;
    // Nobody listens on the owner's channel (it is reconnecting, or gone): a tool result is in
    // the journal already (a process that resumes the session applies it), but the owner may
    // be back in a moment. Keep sending while the session runs, to its owner of the moment.
    void (async () => {
      const deadline = Date.now() + this.leaseMs * 4;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        const now = await store.getSession(record.id).catch(() => undefined);
        if (now === undefined) continue;
        if (!now || (now.status !== 'running' && now.status !== 'pending')) return;
        const here = this.local.get(record.id);
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

  private onOwnerMessage(raw: string): void {
    let message: OwnerMessage;
    try {
      message = JSON.parse(raw) as OwnerMessage;
    } catch {
      return;
    }
    const session = this.local.get(message.s);
    if (!session) return;
    if (message.t === 'cancel') session.cancel();
    else if (message.t === 'reading') session.holdRemoteReader(message.r, message.ttl);
    else if (message.t === 'detach') session.releaseRemoteReader(message.r);
    else if (message.t === 'approval') session.decide(message.c, message.d, true).catch(() => {});
    else session.submitToolResult(message.c, message.input, true).catch(() => {});
  }

  private async guard<T>(promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (err) {
      throw storeError(err);
    }
  }
}

/** Default TTL of the owner lease (ms): a session resumes elsewhere within about a second of its process dying. */
export const DEFAULT_LEASE_MS = 750;
/**
 * Share of the lease during which a hold renewed at time t counts as current (from t, the
 * moment the renewal was sent: the store renewed it later still). The rest is the margin for
 * clocks running at slightly different rates.
 */
const HELD_SHARE = 0.8;

/** Deepest `context` accepted (deeper ones overflow the stack while it is copied and frozen). */
const MAX_CONTEXT_DEPTH = 256;

/** Whether arrays/objects nest deeper than `max` (iterative, so any depth is safe to check). */
function nestedDeeperThan(root: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (!value || typeof value !== 'object' || seen.has(value)) continue;
    if (depth > max) return true;
    seen.add(value);
    for (const v of Object.values(value)) if (v && typeof v === 'object') stack.push([v, depth + 1]);
  }
  return false;
}


function storeError(err: unknown): BrokerError {
  if (err instanceof BrokerError && err.code === 'STORE_UNAVAILABLE' && !err.headers?.['Retry-After']) {
    // The store's own error (no Retry-After): answer as every other 503 of the broker does.
    return new BrokerError('STORE_UNAVAILABLE', err.message, undefined, { ...err.headers, 'Retry-After': '1' });
  }
  if (err instanceof BrokerError) return err;
  return new BrokerError('STORE_UNAVAILABLE', 'the session store cannot be reached', undefined, { 'Retry-After': '1' });
}

/** `1 session`, `2 sessions`. */
function sessionCount(n: number): string {
  return `${n} ${n === 1 ? 'session' : 'sessions'}`;
}
