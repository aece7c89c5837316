import type { StreamEvent } from '../protocol/events.js';
import type { BrokerStore, CounterResult, SessionPatch, SessionRecord, SessionTakeover, Unsubscribe } from './types.js';
import { LocalChannels } from './local-channels.js';
import { unref } from '../util/timers.js';

export interface MemoryStoreOptions {
  /** Events kept per session; older ones are dropped first. */
  maxEventsPerSession?: number;
  /** How often expired entries are swept (ms). */
  sweepIntervalMs?: number;
  /**
   * Session records kept at most (default 100 000). Records stay until `sessionTimeout` for
   * replay, so a busy process would otherwise hold every session of the last five minutes
   * (under 1 KiB each for a short one once it ended: see the class comment). Past the limit the oldest ended sessions go first, as
   * if expired; a session that has not ended is never dropped.
   */
  maxSessions?: number;
}

/** One session. A class, so that every entry has the same shape (one hidden class, not one each). */
class Entry {
  /** The event log from index `first` on; the entries before it were dropped (see `appendEventsNow`). */
  events: StreamEvent[] = [];
  first = 0;
  /** Client tool calls waiting for their result (made on the first one). */
  pending: Set<string> | undefined = undefined;
  journal: unknown[] | undefined = undefined;
  /**
   * An ended session's event log, compacted (see `compact`): the JSON text of its events with
   * every occurrence of the session id cut out; `events` is then empty.
   */
  log: string | undefined = undefined;
  /** Waiting in `MemoryStore.endedIds` to be compacted. */
  queued = false;

  constructor(public record: SessionRecord) {}
}

/** What the store keeps for one session (see `MemoryStore.footprint`). */
export interface MemoryFootprint {
  /** The session ended and its log is kept as one string. */
  compacted: boolean;
  /** Event objects held (0 once compacted). */
  liveEvents: number;
  /** Characters of the compacted log (0 before). */
  logChars: number;
  /** Client tool calls marked pending. */
  pendingCalls: number;
  /** Journal entries held. */
  journalEntries: number;
}

const NO_EVENTS: StreamEvent[] = [];
/** Stands for the session id in a compacted log: JSON text never holds a raw NUL. */
const ID_MARK = '\u0000';
/** How long after its end a session is compacted: off the path that delivers its `final`, in batches. */
const COMPACT_DELAY_MS = 1000;

/**
 * A copy of `record` built in one fixed order: records patched field by field can each end up
 * with a hidden class of their own (≈ 300 bytes apiece); copies share a handful.
 */
function sameShape(r: SessionRecord): SessionRecord {
  const out: SessionRecord = { id: r.id, status: r.status, createdAt: r.createdAt, expiresAt: r.expiresAt, owner: r.owner, lastSeq: r.lastSeq };
  if (r.tenant !== undefined) out.tenant = r.tenant;
  if (r.endedAt !== undefined) out.endedAt = r.endedAt;
  if (r.errorCode !== undefined) out.errorCode = r.errorCode;
  return out;
}

const ended = (record: SessionRecord) => record.status === 'completed' || record.status === 'error';

/**
 * The default store: one process, nothing shared. Expiry never keeps the process alive.
 * Writes take no fence (`EventWrite.fence` is ignored): only this process can own a session.
 *
 * Ended sessions stay until `expiresAt` for replay. Once a session ends (its record's status
 * becomes `completed` or `error`) its entry is compacted, within a second and in a batch with
 * the others that ended meanwhile (so that the work is not on the path that delivers the
 * session's `final`; `compactEnded()` does it at once): the event log becomes one string
 * (the events' JSON, without the session id, which each event repeats), and its pending calls
 * and journal go (nothing runs it any more). A short session (`session_init` and `final`)
 * then costs its record, its id and about 500 characters of log: well under 1 KiB, against
 * several KiB of objects before. Reading a compacted log parses it again.
 */
export class MemoryStore implements BrokerStore {
  readonly name = 'memory';
  readonly shared = false;
  private readonly sessions = new Map<string, Entry>();
  private readonly counters = new Map<string, CounterResult>();
  private readonly channels = new LocalChannels();
  /** Owner leases: instance id → epoch ms at which the lease lapses. */
  private readonly leases = new Map<string, number>();
  private readonly maxEvents: number;
  private readonly maxSessions: number;
  private sweeper: ReturnType<typeof setInterval> | undefined;
  /** Sessions that ended and wait to be compacted, and the timer that compacts them. */
  private endedIds: string[] = [];
  private compactor: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: MemoryStoreOptions = {}) {
    this.maxEvents = options.maxEventsPerSession ?? 10_000;
    this.maxSessions = options.maxSessions ?? 100_000;
    if (!Number.isInteger(this.maxSessions) || this.maxSessions < 1) throw new TypeError('MemoryStore maxSessions must be a positive integer');
  }

  async connect(): Promise<void> {
    this.startSweeper();
  }

  async close(): Promise<void> {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    if (this.compactor !== undefined) clearTimeout(this.compactor);
    this.compactor = undefined;
  }

  async createSession(record: SessionRecord, events: StreamEvent[] = []): Promise<void> {
    this.startSweeper();
    this.sessions.set(record.id, new Entry({ ...record }));
    if (this.sessions.size > this.maxSessions) this.evict();
    if (events.length || ended(record)) this.appendEventsNow(record.id, events);
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const entry = this.live(id);
    return entry ? { ...entry.record } : null;
  }

  async appendEvents(id: string, events: StreamEvent[], patch?: SessionPatch): Promise<void> {
    this.appendEventsNow(id, events, patch);
  }

  appendEventsNow(id: string, events: StreamEvent[], patch?: SessionPatch): void {
    const entry = this.live(id);
    if (!entry) return;
    if (entry.log !== undefined && events.length) this.expand(entry);
    for (const e of events) entry.events.push(e);
    // Past the limit the oldest events are dropped by moving `first`; the array is cut only
    // once the dropped part is as long as the kept one, so each append stays O(1) amortised
    // (cutting at every append made a long session's appends cost O(limit) each).
    const overflow = entry.events.length - entry.first - this.maxEvents;
    if (overflow > 0) entry.first += overflow;
    if (entry.first >= this.maxEvents) {
      entry.events = entry.events.slice(entry.first);
      entry.first = 0;
    }
    const last = events[events.length - 1];
    if (last) entry.record.lastSeq = Math.max(entry.record.lastSeq, last.seq);
    if (patch) Object.assign(entry.record, patch);
    if (entry.log === undefined && !entry.queued && ended(entry.record)) {
      entry.queued = true;
      this.endedIds.push(id);
      if (this.compactor === undefined) {
        this.compactor = setTimeout(() => this.compactEnded(), COMPACT_DELAY_MS);
        unref(this.compactor);
      }
    }
  }

  /** Compacts every session that ended and is not compacted yet; answers how many. */
  compactEnded(): number {
    if (this.compactor !== undefined) clearTimeout(this.compactor);
    this.compactor = undefined;
    const ids = this.endedIds;
    this.endedIds = [];
    let count = 0;
    for (const id of ids) {
      const entry = this.sessions.get(id);
      if (!entry?.queued) continue;
      entry.queued = false;
      if (entry.log === undefined && ended(entry.record)) {
        this.compact(id, entry);
        count++;
      }
    }
    return count;
  }

  /** What the store keeps for session `id`, or null when it keeps nothing. */
  footprint(id: string): MemoryFootprint | null {
    const entry = this.live(id);
    if (!entry) return null;
    return {
      compacted: entry.log !== undefined,
      liveEvents: entry.events.length - entry.first,
      logChars: entry.log?.length ?? 0,
      pendingCalls: entry.pending?.size ?? 0,
      journalEntries: entry.journal?.length ?? 0,
    };
  }

  /** An ended session: its log becomes one string; what only a running session needs goes. */
  private compact(id: string, entry: Entry): void {
    const json = JSON.stringify(entry.first ? entry.events.slice(entry.first) : entry.events);
    entry.log = json.split(id).join(ID_MARK);
    entry.events = NO_EVENTS;
    entry.first = 0;
    entry.record = sameShape(entry.record);
    entry.pending = undefined;
    entry.journal = undefined;
  }

  /** The events of a compacted log, as they were appended. */
  private parseLog(id: string, log: string): StreamEvent[] {
    return JSON.parse(log.split(ID_MARK).join(id)) as StreamEvent[];
  }

  /** Undoes `compact` (events appended to an ended session). */
  private expand(entry: Entry): void {
    entry.events = this.parseLog(entry.record.id, entry.log!);
    entry.first = 0;
    entry.log = undefined;
  }

  async appendJournal(id: string, entries: unknown[]): Promise<void> {
    const entry = this.live(id);
    // An ended session's journal is read by nobody (only running sessions are resumed).
    if (!entry || entry.log !== undefined) return;
    entry.journal ??= [];
    for (const e of entries) entry.journal.push(structuredClone(e));
  }

  async readJournal(id: string): Promise<unknown[]> {
    return structuredClone(this.live(id)?.journal ?? []);
  }

  async readEvents(id: string, afterSeq: number): Promise<StreamEvent[]> {
    const entry = this.live(id);
    if (!entry) return [];
    const events = entry.log !== undefined ? this.parseLog(id, entry.log) : entry.events;
    // Events are in seq order: find the first one after `afterSeq` by binary search.
    let lo = entry.log !== undefined ? 0 : entry.first;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (events[mid]!.seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return events.slice(lo);
  }

  async listSessions(tenant: string | undefined): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    const now = Date.now();
    for (const entry of this.sessions.values()) {
      if (entry.record.expiresAt > now && entry.record.tenant === tenant) out.push({ ...entry.record });
    }
    return out;
  }

  async addPendingCall(sessionId: string, callId: string): Promise<void> {
    const entry = this.live(sessionId);
    // An ended session answers no call any more.
    if (entry && entry.log === undefined) (entry.pending ??= new Set()).add(callId);
  }

  async claimPendingCall(sessionId: string, callId: string): Promise<boolean> {
    return this.live(sessionId)?.pending?.delete(callId) ?? false;
  }

  async renewLease(instanceId: string, ttlMs: number): Promise<void> {
    this.leases.set(instanceId, Date.now() + ttlMs);
  }

  async leaseAlive(instanceId: string): Promise<boolean> {
    const until = this.leases.get(instanceId);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.leases.delete(instanceId);
    return false;
  }

  async takeOverSession(id: string, takeover: SessionTakeover, events: StreamEvent[], patch: SessionPatch): Promise<boolean> {
    // No await before the write: the checks and the write happen in one turn.
    const record = this.live(id)?.record;
    if (!record || (record.status !== 'running' && record.status !== 'pending')) return false;
    if (record.owner !== takeover.owner || record.lastSeq !== takeover.lastSeq) return false;
    const until = this.leases.get(takeover.owner);
    if (!takeover.ignoreLease && until !== undefined && until > Date.now()) return false;
    await this.appendEvents(id, events, { ...patch, epoch: (record.epoch ?? 1) + 1, renewedAt: Date.now() });
    return true;
  }

  async increment(key: string, windowMs: number): Promise<CounterResult> {
    this.startSweeper();
    const now = Date.now();
    let counter = this.counters.get(key);
    if (!counter || counter.resetAt <= now) {
      counter = { count: 0, resetAt: now + windowMs };
      this.counters.set(key, counter);
    }
    counter.count++;
    return { ...counter };
  }

  async publish(channel: string, message: string): Promise<void> {
    this.channels.publish(channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    return this.channels.subscribe(channel, handler);
  }

  private live(id: string): Entry | undefined {
    const entry = this.sessions.get(id);
    if (!entry) return undefined;
    if (entry.record.expiresAt <= Date.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return entry;
  }

  /** Drops the oldest ended sessions (the map is in creation order) down to `maxSessions`. */
  private evict(): void {
    let excess = this.sessions.size - this.maxSessions;
    const now = Date.now();
    for (const [id, entry] of this.sessions) {
      if (excess <= 0) return;
      const { status, expiresAt } = entry.record;
      if (expiresAt <= now || status === 'completed' || status === 'error') {
        this.sessions.delete(id);
        excess--;
      }
    }
  }

  private startSweeper(): void {
    if (this.sweeper !== undefined) return;
    this.sweeper = setInterval(() => this.sweep(), this.options.sweepIntervalMs ?? 30_000);
    // Never keep the process alive for housekeeping.
    unref(this.sweeper);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.sessions) if (entry.record.expiresAt <= now) this.sessions.delete(id);
    for (const [key, counter] of this.counters) if (counter.resetAt <= now) this.counters.delete(key);
    for (const [key, until] of this.leases) if (until <= now) this.leases.delete(key);
  }
}
