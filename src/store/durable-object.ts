import type { StreamEvent } from '../protocol/events.js';
import type { BrokerStore, CounterResult, SessionPatch, SessionRecord, SessionTakeover, Unsubscribe } from './types.js';
import { LocalChannels } from './local-channels.js';

/**
 * The part of a Durable Object's `ctx.storage` this store uses (the key-value API; it works
 * the same on SQLite-backed and legacy objects). Declared here so this file needs no
 * `cloudflare:workers` types.
 */
export interface DurableObjectStorageLike {
  get<T = unknown>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  put<T>(entries: Record<string, T>): Promise<void>;
  delete(key: string): Promise<boolean>;
  delete(keys: string[]): Promise<number>;
  list<T = unknown>(options?: { prefix?: string; start?: string; end?: string; limit?: number }): Promise<Map<string, T>>;
  deleteAll(): Promise<void>;
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number | Date): Promise<void>;
}

export interface DurableObjectStoreOptions {
  /** Events kept per session; older ones are dropped first (default 10000). */
  maxEventsPerSession?: number;
}

interface Counter {
  count: number;
  resetAt: number;
}

/** DO storage writes at most 128 keys per `put`/`delete` call. */
const BATCH = 128;

const recKey = (id: string) => `rec:${id}`;
const countKey = (id: string) => `evn:${id}`;
const evPrefix = (id: string) => `ev:${id}:`;
const evKey = (id: string, seq: number) => `${evPrefix(id)}${String(seq).padStart(15, '0')}`;
const pendKey = (id: string, callId: string) => `pend:${id}:${callId}`;
const ctrKey = (key: string) => `ctr:${key}`;
const jrPrefix = (id: string) => `jr:${id}:`;
const jrCountKey = (id: string) => `jrn:${id}`;
const jrKey = (id: string, n: number, part: number) => `${jrPrefix(id)}${String(n).padStart(12, '0')}:${String(part).padStart(4, '0')}`;
/** Characters of one journal entry's JSON per key (a key and its value stay under 2 MB). */
const JOURNAL_CHUNK = 512 * 1024;

/**
 * A `BrokerStore` over a Durable Object's transactional storage. On Workers each session is
 * its own object, so the store is not shared (`shared: false`): nothing needs routing, and
 * publish/subscribe only reaches subscribers in the same object.
 *
 * Atomicity comes from the object itself: requests to one object are serialized by its input
 * gates, and writes issued without an `await` between them are committed as one batch, so a
 * reader never sees a patched record without the events written with it.
 *
 * Ownership needs no fencing here: the platform runs at most one instance of an object at a
 * time, and a session is its own object, so no second process can write its state. Writes
 * therefore ignore `EventWrite.fence`, and the store has no `renewSession`/`restoreSession`
 * (its storage is not lost while the object lives).
 *
 * Expiry: every read treats a record past `expiresAt` as gone, and the store keeps the
 * object's alarm at the earliest `expiresAt`/counter reset; the object's `alarm()` calls
 * `sweep()`, which deletes what expired and re-arms the alarm for what remains.
 */
export class DurableObjectStore implements BrokerStore {
  readonly name = 'durable-object';
  readonly shared = false;
  /** The object's storage outlives the object: a restarted object resumes its durable session. */
  readonly persistent = true;
  private readonly maxEvents: number;
  private readonly channels = new LocalChannels();
  /**
   * Owner leases (instance id → epoch ms they lapse), kept in memory: a session's object is
   * its own owner, so nothing else ever needs them; they exist to satisfy the interface.
   */
  private readonly leases = new Map<string, number>();
  private takeovers: Promise<void> = Promise.resolve();
  private journalWrites: Promise<void> = Promise.resolve();

  constructor(
    private readonly storage: DurableObjectStorageLike,
    options: DurableObjectStoreOptions = {},
  ) {
    this.maxEvents = options.maxEventsPerSession ?? 10_000;
  }

  async connect(): Promise<void> {}

  async close(): Promise<void> {
    this.channels.clear();
  }

  async createSession(record: SessionRecord, events: StreamEvent[] = []): Promise<void> {
    const entries: Record<string, unknown> = {};
    const kept = events.slice(-this.maxEvents);
    for (const e of kept) entries[evKey(record.id, e.seq)] = e;
    const last = events[events.length - 1];
    entries[recKey(record.id)] = { ...record, lastSeq: last ? Math.max(record.lastSeq, last.seq) : record.lastSeq };
    entries[countKey(record.id)] = kept.length;
    const writes = this.putAll(entries);
    await Promise.all([writes, this.armAlarm(record.expiresAt)]);
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const record = await this.live(id);
    return record ? { ...record } : null;
  }

  async appendEvents(id: string, events: StreamEvent[], patch?: SessionPatch): Promise<void> {
    const record = await this.live(id);
    if (!record) return;
    const count = ((await this.storage.get<number>(countKey(id))) ?? 0) + events.length;
    let drop: string[] = [];
    if (count > this.maxEvents) {
      const old = await this.storage.list({ prefix: evPrefix(id), limit: count - this.maxEvents });
      drop = [...old.keys()];
    }
    const entries: Record<string, unknown> = {};
    const fresh = events.slice(-this.maxEvents);
    for (const e of fresh) entries[evKey(id, e.seq)] = e;
    const last = events[events.length - 1];
    if (last) record.lastSeq = Math.max(record.lastSeq, last.seq);
    if (patch) {
      for (const [key, value] of Object.entries(patch)) {
        if (value === undefined) delete (record as unknown as Record<string, unknown>)[key];
        else (record as unknown as Record<string, unknown>)[key] = value;
      }
    }
    entries[recKey(id)] = record;
    entries[countKey(id)] = Math.min(count, this.maxEvents);
    // No await between these calls: the object commits them as one atomic batch.
    const writes = [this.putAll(entries)];
    for (let i = 0; i < drop.length; i += BATCH) writes.push(this.storage.delete(drop.slice(i, i + BATCH)).then(() => {}));
    await Promise.all(writes);
  }

  async readEvents(id: string, afterSeq: number): Promise<StreamEvent[]> {
    if (!(await this.live(id))) return [];
    const events = await this.storage.list<StreamEvent>({ start: evKey(id, afterSeq + 1), end: `${evPrefix(id)}~` });
    return [...events.values()];
  }

  async listSessions(tenant: string | undefined): Promise<SessionRecord[]> {
    const now = Date.now();
    const records = await this.storage.list<SessionRecord>({ prefix: 'rec:' });
    const out: SessionRecord[] = [];
    for (const r of records.values()) if (r.expiresAt > now && r.tenant === tenant) out.push({ ...r });
    return out;
  }

  async addPendingCall(sessionId: string, callId: string): Promise<void> {
    if (!(await this.live(sessionId))) return;
    await this.storage.put(pendKey(sessionId, callId), 1);
  }

  /**
   * One key per entry (its JSON, split over several keys past `JOURNAL_CHUNK` characters) and
   * a count: an append writes only what it adds. Appends are queued one after another.
   */
  appendJournal(id: string, entries: unknown[]): Promise<void> {
    const run = this.journalWrites.then(() => this.appendJournalNow(id, entries));
    this.journalWrites = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async appendJournalNow(id: string, entries: unknown[]): Promise<void> {
    if (!entries.length || !(await this.live(id))) return;
    let n = (await this.storage.get<number>(jrCountKey(id))) ?? 0;
    const puts: Record<string, unknown> = {};
    for (const entry of entries) {
      const text = JSON.stringify(entry);
      for (let part = 0, at = 0; at < text.length || part === 0; part++, at += JOURNAL_CHUNK) {
        puts[jrKey(id, n, part)] = text.slice(at, at + JOURNAL_CHUNK);
      }
      n++;
    }
    puts[jrCountKey(id)] = n;
    await this.putAll(puts);
  }

  async readJournal(id: string): Promise<unknown[]> {
    if (!(await this.live(id))) return [];
    const parts = await this.storage.list<string>({ prefix: jrPrefix(id) });
    const out: unknown[] = [];
    let current = '';
    let text = '';
    for (const [key, value] of parts) {
      const entry = key.slice(0, key.lastIndexOf(':'));
      if (entry !== current && current !== '') {
        out.push(JSON.parse(text));
        text = '';
      }
      current = entry;
      text += value;
    }
    if (current !== '') out.push(JSON.parse(text));
    return out;
  }

  /** Sessions still pending or running (for an object that restarted: what it must resume). */
  async runningSessions(): Promise<SessionRecord[]> {
    const now = Date.now();
    const records = await this.storage.list<SessionRecord>({ prefix: 'rec:' });
    return [...records.values()].filter((r) => r.expiresAt > now && (r.status === 'running' || r.status === 'pending'));
  }

  async claimPendingCall(sessionId: string, callId: string): Promise<boolean> {
    if (!(await this.live(sessionId))) return false;
    // `delete` answers whether the key existed: exactly one caller gets true.
    return (await this.storage.delete(pendKey(sessionId, callId))) === true;
  }

  async renewLease(instanceId: string, ttlMs: number): Promise<void> {
    this.leases.set(instanceId, Date.now() + ttlMs);
  }

  async leaseAlive(instanceId: string): Promise<boolean> {
    return (this.leases.get(instanceId) ?? 0) > Date.now();
  }

  /** Check, then append; take-overs are queued one after another, so one of them wins. */
  takeOverSession(id: string, takeover: SessionTakeover, events: StreamEvent[], patch: SessionPatch): Promise<boolean> {
    const run = this.takeovers.then(() => this.takeOverNow(id, takeover, events, patch));
    this.takeovers = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async takeOverNow(id: string, takeover: SessionTakeover, events: StreamEvent[], patch: SessionPatch): Promise<boolean> {
    const record = await this.live(id);
    if (!record || (record.status !== 'running' && record.status !== 'pending')) return false;
    if (record.owner !== takeover.owner || record.lastSeq !== takeover.lastSeq) return false;
    if (!takeover.ignoreLease && (await this.leaseAlive(takeover.owner))) return false;
    await this.appendEvents(id, events, { ...patch, epoch: (record.epoch ?? 1) + 1 });
    return true;
  }

  async increment(key: string, windowMs: number): Promise<CounterResult> {
    const now = Date.now();
    let counter = await this.storage.get<Counter>(ctrKey(key));
    if (!counter || counter.resetAt <= now) counter = { count: 0, resetAt: now + windowMs };
    counter.count++;
    const write = this.storage.put(ctrKey(key), counter);
    await Promise.all([write, this.armAlarm(counter.resetAt)]);
    return { ...counter };
  }

  async publish(channel: string, message: string): Promise<void> {
    this.channels.publish(channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    return this.channels.subscribe(channel, handler);
  }

  /**
   * Deletes every expired session (record, events, pending calls) and counter, and sets the
   * alarm for the next expiry. Returns the number of sessions still alive. Call it from the
   * object's `alarm()`.
   */
  async sweep(): Promise<number> {
    const now = Date.now();
    let next = Infinity;
    let alive = 0;
    const records = await this.storage.list<SessionRecord>({ prefix: 'rec:' });
    for (const r of records.values()) {
      if (r.expiresAt <= now) await this.deleteSession(r.id);
      else {
        alive++;
        next = Math.min(next, r.expiresAt);
      }
    }
    const counters = await this.storage.list<Counter>({ prefix: 'ctr:' });
    const stale: string[] = [];
    for (const [key, c] of counters) {
      if (c.resetAt <= now) stale.push(key);
      else next = Math.min(next, c.resetAt);
    }
    for (let i = 0; i < stale.length; i += BATCH) await this.storage.delete(stale.slice(i, i + BATCH));
    if (Number.isFinite(next)) await this.storage.setAlarm(next);
    return alive;
  }

  private async deleteSession(id: string): Promise<void> {
    const keys = [recKey(id), countKey(id), jrCountKey(id)];
    for (const prefix of [evPrefix(id), `pend:${id}:`, jrPrefix(id)]) keys.push(...(await this.storage.list({ prefix })).keys());
    for (let i = 0; i < keys.length; i += BATCH) await this.storage.delete(keys.slice(i, i + BATCH));
  }

  private async live(id: string): Promise<SessionRecord | undefined> {
    const record = await this.storage.get<SessionRecord>(recKey(id));
    if (!record) return undefined;
    if (record.expiresAt <= Date.now()) {
      await this.deleteSession(id);
      return undefined;
    }
    return record;
  }

  private putAll(entries: Record<string, unknown>): Promise<void> {
    const keys = Object.keys(entries);
    if (keys.length <= BATCH) return this.storage.put(entries);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < keys.length; i += BATCH) {
      const chunk: Record<string, unknown> = {};
      for (const k of keys.slice(i, i + BATCH)) chunk[k] = entries[k];
      writes.push(this.storage.put(chunk));
    }
    return Promise.all(writes).then(() => {});
  }

  /** Keeps the object's alarm at the earliest expiry. */
  private async armAlarm(at: number): Promise<void> {
    const current = await this.storage.getAlarm();
    if (current === null || current > at) await this.storage.setAlarm(at);
  }
}
