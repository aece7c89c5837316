import type { StreamEvent } from '../protocol/events.js';

export type SessionStatus = 'pending' | 'running' | 'completed' | 'error';

/** What every process can know about a session. */
export interface SessionRecord {
  id: string;
  status: SessionStatus;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms: `createdAt + sessionTimeout`. The record is gone after it. */
  expiresAt: number;
  /** The broker instance running the session. */
  owner: string;
  /** The tenant (or user) the session belongs to; absent without authentication. */
  tenant?: string;
  /** Highest `seq` stored. */
  lastSeq: number;
  /** Set when the session ended. */
  endedAt?: number;
  errorCode?: string;
  /**
   * Fencing token of the ownership: 1 when the session is created, one more at each takeover.
   * Every write of the owner (events, journal, pending calls) carries the owner and epoch it
   * holds, and a shared store refuses it when they are no longer the record's.
   */
  epoch?: number;
  /** Epoch ms (the store's clock) at which the owner last renewed its hold on this session. */
  renewedAt?: number;
}

/** Who may write a session's state: its owner at an epoch (see `SessionRecord.epoch`). */
export interface SessionFence {
  owner: string;
  epoch: number;
}

/**
 * What a fenced write or a renewal found: the fence holds (`ok`), the record is gone while
 * the session should still be there (`missing`: the store lost it, e.g. Redis restarted
 * empty; the owner writes the session back), or another process owns it now (`lost`).
 */
export type FenceState = 'ok' | 'missing' | 'lost';

/** Optional parts of `appendEvents`. */
export interface EventWrite {
  /** Write only while this fence holds; otherwise reject with `SessionFencedError`. */
  fence?: SessionFence;
  /** Published on `ev:<id>` once the events are stored (and only then), in the same step. */
  notify?: string;
}

/** Everything the owner writes back when the store lost a session it still runs. */
export interface SessionRestore {
  record: SessionRecord;
  /** Every event stored so far. */
  events: StreamEvent[];
  /** The whole journal (for durable sessions), in order. */
  journal: unknown[];
  /** Client calls still waiting for their answer. */
  pending: string[];
  fence: SessionFence;
}

export type SessionPatch = Partial<Omit<SessionRecord, 'id' | 'createdAt' | 'expiresAt'>>;

/** What `takeOverSession` checks before it ends a session. */
export interface SessionTakeover {
  /** The owner the caller saw in the record. */
  owner: string;
  /** The `lastSeq` the caller saw; the new events follow it. */
  lastSeq: number;
  /** Skip the lease check (the caller is that owner, restarted, and knows it lost the session). */
  ignoreLease?: boolean;
  /**
   * The owner must also not have renewed its hold on the session (`renewedAt`, the store's
   * clock) for this long: a lease key that vanished (a store restart) is not enough.
   */
  leaseMs?: number;
}

export interface CounterResult {
  /** The count after this increment. */
  count: number;
  /** Epoch ms at which the window resets. */
  resetAt: number;
}

export type Unsubscribe = () => Promise<void>;

/**
 * What every store is: its name, whether other processes share its data, and how it starts
 * and stops.
 */
export interface StoreLifecycle {
  readonly name: string;
  /** True when other processes see the same data (a process may then not own a session). */
  readonly shared: boolean;
  /**
   * Optional: true when the data outlives this process although no other process shares it
   * (a Durable Object's storage: the object restarts under the same id). Journals are then
   * kept in the store, and a running session of this instance that it no longer runs is
   * resumed (or ends with SESSION_LOST).
   */
  readonly persistent?: boolean;

  /** Checks the store can be reached; `listen()` fails with its error otherwise. */
  connect(): Promise<void>;
  close(): Promise<void>;
}

/** Session records and their event logs. */
export interface SessionLog {
  /**
   * Writes a session record, and optionally its first events, in one round trip. The record
   * and its log expire at `record.expiresAt`.
   */
  createSession(record: SessionRecord, events?: StreamEvent[]): Promise<void>;
  getSession(id: string): Promise<SessionRecord | null>;
  /**
   * Appends events (with increasing `seq`) and applies `patch` to the record, atomically. With
   * `write.fence`, only while that fence holds: otherwise it rejects with `SessionFencedError`
   * (`lost`, or `missing` when the record is gone).
   */
  appendEvents(id: string, events: StreamEvent[], patch?: SessionPatch, write?: EventWrite): Promise<void>;
  /**
   * Optional, for stores in this process: `appendEvents` done before returning. Sessions use it
   * (when no asynchronous write is in flight) to skip a promise chain per batch of events.
   */
  appendEventsNow?(id: string, events: StreamEvent[], patch?: SessionPatch): void;
  /** Events with `seq > afterSeq`, in order. */
  readEvents(id: string, afterSeq: number): Promise<StreamEvent[]>;
  /** Records of one tenant (or of sessions without one when `tenant` is undefined). */
  listSessions(tenant: string | undefined): Promise<SessionRecord[]>;
}

/** Client tool calls waiting for their result. */
export interface PendingCalls {
  /** Marks a client tool call as waiting for its result (fenced like `appendEvents`). */
  addPendingCall(sessionId: string, callId: string, fence?: SessionFence): Promise<void>;
  /**
   * Takes a waiting call: true exactly once per call, to the first caller. Guarantees that a
   * result is applied once, whichever process receives it.
   */
  claimPendingCall(sessionId: string, callId: string): Promise<boolean>;
}

/** Who owns a session: owner leases, the fence of one session, and takeovers. */
export interface SessionLeases {
  /**
   * Sets or renews the owner lease of broker `instanceId` for `ttlMs` (a key with a TTL). A
   * process renews its lease on an interval; when the lease lapses, other processes treat
   * the sessions it owned as lost.
   */
  renewLease(instanceId: string, ttlMs: number): Promise<void>;
  /** Whether the owner lease of `instanceId` is alive. */
  leaseAlive(instanceId: string): Promise<boolean>;
  /**
   * Optional (shared stores): the owner renews its hold on one session (`renewedAt`), and
   * learns whether it still owns it. Stores where a session has one possible owner (memory,
   * Durable Objects) leave it out.
   */
  renewSession?(id: string, fence: SessionFence): Promise<FenceState>;
  /**
   * Optional (shared stores): writes a session back (record, events, journal, pending calls)
   * when the store lost it, or completes what it lost of it, unless another owner holds it
   * (`lost`). The owner calls it after a write or a renewal answered `missing`.
   */
  restoreSession?(state: SessionRestore): Promise<'ok' | 'lost'>;
  /**
   * Takes over (or ends) a session whose owner is gone, atomically and for exactly one caller:
   * appends `events` and applies `patch` only when the record is still `pending`/`running`,
   * still owned by `takeover.owner`, its `lastSeq` is `takeover.lastSeq`, that owner's lease
   * is gone (unless `takeover.ignoreLease`, for the owner's own id after a restart) and it has
   * not renewed the session for `takeover.leaseMs`. The epoch goes up by one, so the old owner's
   * writes are refused from then on. True when this call did it.
   */
  takeOverSession(id: string, takeover: SessionTakeover, events: StreamEvent[], patch: SessionPatch): Promise<boolean>;
}

/**
 * The journal of durable sessions. Optional in a `BrokerStore`: a store without it runs no
 * durable session (a lost one ends with SESSION_LOST).
 */
export interface SessionJournal {
  /** Appends entries (JSON values) in order; they expire with the session at `expiresAt`. */
  appendJournal(id: string, entries: unknown[], expiresAt: number, fence?: SessionFence): Promise<void>;
  /** Every journal entry of the session, in the order appended. */
  readJournal(id: string): Promise<unknown[]>;
}

/** Fixed-window counters (rate limiting). */
export interface Counters {
  /** Increments a counter in a fixed window of `windowMs`. */
  increment(key: string, windowMs: number): Promise<CounterResult>;
}

/** A message channel between broker processes. */
export interface PubSub {
  /**
   * Sends a message to every subscriber of `channel`, in any process. A store that can tell
   * answers how many subscribers got it (0: nobody listens there now).
   */
  publish(channel: string, message: string): Promise<number | void>;
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;
}

/**
 * Storage of sessions, their event logs, pending client tool calls and counters, plus a
 * message channel between broker processes: every role above in one object (the journal
 * optional). Code that needs one role takes that role's type. Every method is async so that
 * Redis, Upstash and Durable Objects implement it as they are. Everything expires: nothing
 * outlives `expiresAt`.
 */
export type BrokerStore = StoreLifecycle & SessionLog & PendingCalls & SessionLeases & Partial<SessionJournal> & Counters & PubSub;
