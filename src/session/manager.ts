import { BrokerError } from '../protocol/errors.js';
import { compileFilter, type CatalogChangedPayload, type EventFilter } from '../protocol/events.js';
import { newSessionId } from '../protocol/ids.js';
import type { Executor } from '../pool/executor.js';
import type { BrokerStore, SessionRecord } from '../store/types.js';
import { storeFailure } from '../store/errors.js';
import { permissionMatcher } from '../tools/permissions.js';
import type { CallerIdentity } from '../tools/types.js';
import { admit } from './admission.js';
import type { EventCursor } from './cursor.js';
import type { Emitter } from './emitter.js';
import type { BrokerLimits } from './limits.js';
import { OwnerLease } from './owner-lease.js';
import { OwnerRouting } from './owner-routing.js';
import { Recovery } from './recovery.js';
import { approvalKey, type ApprovalDecision } from './approvals.js';
import type { JournalDecision, JournalMail } from './journal.js';
import { Session } from './session.js';
import type { SessionEnvironment } from './session-environment.js';
import type { ToolRoute } from './tool-resolver.js';
import { ownerKey, sessionInfo, type BrokerEventMap, type SessionInfo, type ToolResultInput } from './types.js';
import type { Logger } from '../logger.js';

export { DEFAULT_LEASE_MS } from './owner-lease.js';

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

/**
 * Creates sessions, finds them (here or in the store) and routes commands to their owner.
 *
 * With a shared store, several processes act as one: a session runs in the process that
 * created it (its owner); the others answer from the store and route tool results, cancels
 * and reader presence to the owner over pub/sub (`OwnerRouting`). Each process keeps an owner
 * lease in the store and renews its hold on each of its sessions with it (`OwnerLease`); a
 * session whose owner is gone is resumed (or ended with SESSION_LOST) by a process that
 * follows it or gets a write for it (`Recovery`). Reading a record never does. Ownership is
 * fenced by the record's epoch (see `Session.loseOwnership`). `maxConcurrentSessions`,
 * `active` and `totalCreated` (so `GET /health`) are per process.
 */
export class SessionManager {
  /** The sessions this process runs (pending or running), by id. */
  private readonly local = new Map<string, Session>();
  private readonly env: SessionEnvironment;
  private readonly lease: OwnerLease;
  private readonly recovery: Recovery;
  private readonly routing: OwnerRouting;
  private unsubscribe: (() => Promise<void>) | undefined;
  /** Sessions this process created since it started. */
  totalCreated = 0;
  /** Whether sessions are journaled (and re-run after a sandbox crash). */
  readonly durable: boolean;
  /** Whether journals go to the store, so a session is resumed after its process died. */
  readonly journalInStore: boolean;

  constructor(private readonly options: SessionManagerOptions) {
    const { store, executor, events, logger, instanceId } = options;
    this.durable = options.durable !== false;
    this.journalInStore =
      this.durable && (store.shared || store.persistent === true) && typeof store.appendJournal === 'function' && typeof store.readJournal === 'function';
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
    this.lease = new OwnerLease({
      store,
      instanceId,
      logger,
      ...(options.ownerLeaseMs !== undefined ? { leaseMs: options.ownerLeaseMs } : {}),
      ...(options.ownerRenewMs !== undefined ? { renewMs: options.ownerRenewMs } : {}),
      sessions: () => this.local.values(),
    });
    this.recovery = new Recovery({
      store,
      instanceId,
      logger,
      lease: this.lease,
      journalInStore: this.journalInStore,
      watchMs: Math.max(5, options.ownerWatchMs ?? 25),
      local: this.local,
      env: this.env,
    });
    this.routing = new OwnerRouting({
      store,
      instanceId,
      leaseMs: this.lease.leaseMs,
      local: this.local,
      recovery: this.recovery,
      guard: (promise) => this.guard(promise),
    });
    if (store.shared) {
      this.env.ownership = { current: () => this.lease.current(), confirm: () => this.lease.confirm() };
      this.env.handoff = (id, afterSeq, accept) => this.routing.follow(id, afterSeq, accept);
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
    if (!this.options.store.shared || this.unsubscribe) return;
    await this.guard(this.lease.take());
    this.unsubscribe = await this.routing.listen();
    this.lease.keepRenewing();
  }

  async create(input: CreateSessionInput): Promise<Session> {
    const { options } = this;
    const limits = admit(options, this.local, this.env.executor, input);
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
      throw storeFailure(err, 'the session store cannot be reached');
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
    return this.routing.follow(id, afterSeq, accept, await this.record(id, identity));
  }

  async submitToolResult(id: string, callId: string, input: ToolResultInput, identity: CallerIdentity | undefined): Promise<void> {
    const local = this.localSession(id, identity);
    if (local) return local.submitToolResult(callId, input);
    const { store } = this.options;
    // A write that needs an owner: a session whose owner is gone is recovered first.
    const record = await this.recovered(await this.record(id, identity));
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
    await this.routing.send(record, { t: 'result', s: id, c: callId, input });
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
    await this.routing.send(record, { t: 'approval', s: id, c: callId, d: decision });
  }

  async cancel(id: string, identity: CallerIdentity | undefined): Promise<void> {
    const local = this.localSession(id, identity);
    if (local) {
      local.cancel();
      return;
    }
    // A write that needs an owner: a session whose owner is gone is recovered first.
    const record = await this.recovered(await this.record(id, identity));
    const resumed = this.localSession(id, identity);
    if (resumed) resumed.cancel();
    else if (record.status === 'running' || record.status === 'pending') {
      await this.routing.send(record, { t: 'cancel', s: id });
    }
  }

  /**
   * Resumes (or ends as lost) a session this process's store holds but no process runs: for
   * a Durable Object that restarted, from its alarm.
   */
  recover(id: string): Promise<void> {
    return this.recovery.recover(id);
  }

  /** Ends every local session (CANCELLED unless told otherwise) and waits until their final events are stored. */
  async close(code = 'CANCELLED', message = 'the broker is shutting down'): Promise<void> {
    this.lease.stop();
    this.recovery.stop();
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

  /** For a write that needs an owner: recovers the session if its owner is gone; the record as it is then. */
  private async recovered(record: SessionRecord): Promise<SessionRecord> {
    if (!(await this.guard(this.recovery.recoverIfLost(record)))) return record;
    return (await this.guard(this.options.store.getSession(record.id))) ?? record;
  }

  private async guard<T>(promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (err) {
      throw storeFailure(err, 'the session store cannot be reached');
    }
  }
}
