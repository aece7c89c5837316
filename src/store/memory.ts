import type { StreamEvent } from '../protocol/events.js';
import type { BrokerStore, CounterResult, SessionPatch, SessionRecord, SessionTakeover, Unsubscribe } from './types.js';
import { LocalChannels } from './local-channels.js';

export interface MemoryStoreOptions {
  /** Events kept per session; older ones are dropped first. */
  maxEventsPerSession?: number;
  /** How often expired entries are swept (ms). */
  sweepIntervalMs?: number;
  /**
   * Session records kept at most (default 100 000). Records stay until `sessionTimeout` for
   * replay, so a busy process would otherwise hold every session of the last five minutes
   * (about 1.5 KB each for a short one). Past the limit the oldest ended sessions go first, as
   * if expired; a session that has not ended is never dropped.
   */
  maxSessions?: number;
}

interface Entry {
  record: SessionRecord;
  /** The event log from index `first` on; the entries before it were dropped (see `appendEventsNow`). */
  events: StreamEvent[];
  first: number;
  pending: Set<string>;
  journal?: unknown[];
}

/**
 * The default store: one process, nothing shared. Expiry never keeps the process alive.
 * Writes take no fence (`EventWrite.fence` is ignored): only this process can own a session.
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
  }

  async createSession(record: SessionRecord, events: StreamEvent[] = []): Promise<void> {
    this.startSweeper();
    this.sessions.set(record.id, { record: { ...record }, events: [], first: 0, pending: new Set() });
    if (this.sessions.size > this.maxSessions) this.evict();
    if (events.length) await this.appendEvents(record.id, events);
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
  }

  async appendJournal(id: string, entries: unknown[]): Promise<void> {
    const entry = this.live(id);
    if (!entry) return;
    entry.journal ??= [];
    for (const e of entries) entry.journal.push(structuredClone(e));
  }

  async readJournal(id: string): Promise<unknown[]> {
    return structuredClone(this.live(id)?.journal ?? []);
  }

  async readEvents(id: string, afterSeq: number): Promise<StreamEvent[]> {
    const entry = this.live(id);
    if (!entry) return [];
    const events = entry.events;
    // Events are in seq order: find the first one after `afterSeq` by binary search.
    let lo = entry.first;
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
    this.live(sessionId)?.pending.add(callId);
  }

  async claimPendingCall(sessionId: string, callId: string): Promise<boolean> {
    const entry = this.live(sessionId);
    return entry ? entry.pending.delete(callId) : false;
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
    (this.sweeper as { unref?: () => void }).unref?.();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [id, entry] of this.sessions) if (entry.record.expiresAt <= now) this.sessions.delete(id);
    for (const [key, counter] of this.counters) if (counter.resetAt <= now) this.counters.delete(key);
    for (const [key, until] of this.leases) if (until <= now) this.leases.delete(key);
  }
}
