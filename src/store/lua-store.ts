import type { StreamEvent } from '../protocol/events.js';
import * as scripts from './redis-scripts.js';
import type { BrokerStore, CounterResult, SessionPatch, SessionRecord, SessionTakeover, Unsubscribe } from './types.js';

export interface LuaStoreOptions {
  /** Prepended to every key and channel name. Default `enclave:`. */
  prefix?: string;
  /** Events kept per session; older ones are dropped first. Default 10000. */
  maxEventsPerSession?: number;
}

/** A script and its SHA-1, computed once with Web Crypto (Node, Bun and Workers alike). */
class Script {
  private digest: Promise<string> | undefined;
  constructor(readonly source: string) {}

  sha(): Promise<string> {
    this.digest ??= crypto.subtle.digest('SHA-1', new TextEncoder().encode(this.source)).then((buf) =>
      Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join(''),
    );
    return this.digest;
  }
}

const SCRIPTS = {
  create: new Script(scripts.CREATE_SESSION),
  append: new Script(scripts.APPEND_EVENTS),
  get: new Script(scripts.GET_SESSION),
  read: new Script(scripts.READ_EVENTS),
  list: new Script(scripts.LIST_SESSIONS),
  addPending: new Script(scripts.ADD_PENDING_CALL),
  claim: new Script(scripts.CLAIM_PENDING_CALL),
  increment: new Script(scripts.INCREMENT),
  renewLease: new Script(scripts.RENEW_LEASE),
  leaseAlive: new Script(scripts.LEASE_ALIVE),
  takeOver: new Script(scripts.TAKE_OVER_SESSION),
  appendJournal: new Script(scripts.APPEND_JOURNAL),
  readJournal: new Script(scripts.READ_JOURNAL),
};

/** Record fields in hash order; values are stored as JSON. */
const FIELDS = ['id', 'status', 'createdAt', 'expiresAt', 'owner', 'tenant', 'lastSeq', 'endedAt', 'errorCode'] as const;

function recordFields(record: Partial<SessionRecord>, keepDeletes: boolean): string[] {
  const out: string[] = [];
  for (const field of FIELDS) {
    if (!(field in record)) continue;
    const value = record[field];
    if (value === undefined) {
      if (keepDeletes) out.push(field, '');
    } else out.push(field, JSON.stringify(value));
  }
  return out;
}

function eventArgs(events: StreamEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) out.push(String(e.seq), JSON.stringify(e));
  return out;
}

/** Script replies are JSON text; `@upstash/redis` may already have parsed them. */
function fromJson<T>(reply: unknown): T {
  return (typeof reply === 'string' ? JSON.parse(reply) : reply) as T;
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.toUpperCase().includes('NOSCRIPT');
}

/**
 * The data side of a Redis-protocol store: every method is one Lua script (EVALSHA, falling
 * back to EVAL after a script-cache flush), so each is atomic and one round trip. Every key
 * carries the prefix and expires: a session's record, events and pending calls at its
 * `expiresAt`, a tenant index at its latest session's `expiresAt`, a counter at the end of
 * its window. Subclasses supply the transport, pub/sub and error mapping.
 */
export abstract class LuaStore implements BrokerStore {
  abstract readonly name: string;
  readonly shared = true;
  readonly prefix: string;
  protected readonly maxEvents: number;

  constructor(options: LuaStoreOptions = {}) {
    this.prefix = options.prefix ?? 'enclave:';
    this.maxEvents = Math.max(1, options.maxEventsPerSession ?? 10_000);
  }

  abstract connect(): Promise<void>;
  abstract close(): Promise<void>;
  abstract publish(channel: string, message: string): Promise<void>;
  abstract subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;

  /** Runs one command; maps transport failures to `StoreUnavailableError`. */
  protected abstract command<T>(run: () => Promise<T>): Promise<T>;
  protected abstract evalsha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  protected abstract evalScript(source: string, keys: string[], args: string[]): Promise<unknown>;
  protected abstract scriptLoad(source: string): Promise<unknown>;

  /**
   * Loads every script into the server's script cache (one pipelined batch), so that the
   * first calls cost one round trip each too. Called by `connect()`; harmless to repeat.
   */
  protected async loadScripts(): Promise<void> {
    await Promise.all(Object.values(SCRIPTS).map((s) => this.command(() => this.scriptLoad(s.source))));
  }

  async createSession(record: SessionRecord, events: StreamEvent[] = []): Promise<void> {
    const last = events[events.length - 1];
    const stored = last ? { ...record, lastSeq: Math.max(record.lastSeq, last.seq) } : record;
    const fields = recordFields(stored, false);
    await this.run(
      SCRIPTS.create,
      [this.recordKey(record.id), this.eventsKey(record.id), this.pendingKey(record.id), this.tenantKey(record.tenant)],
      [record.id, String(record.expiresAt), String(Date.now()), String(this.maxEvents), String(fields.length / 2), ...fields, ...eventArgs(events)],
    );
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const reply = await this.run(SCRIPTS.get, [this.recordKey(id)], []);
    if (reply === null || reply === undefined) return null;
    const record = fromJson<SessionRecord>(reply);
    // Redis expires keys on its own clock; answer by ours too, as the memory store does.
    return record.expiresAt > Date.now() ? record : null;
  }

  async appendEvents(id: string, events: StreamEvent[], patch?: SessionPatch): Promise<void> {
    const fields = patch ? recordFields(patch, true) : [];
    if (!events.length && !fields.length) return;
    await this.run(
      SCRIPTS.append,
      [this.recordKey(id), this.eventsKey(id)],
      [String(this.maxEvents), String(fields.length / 2), ...fields, ...eventArgs(events)],
    );
  }

  async readEvents(id: string, afterSeq: number): Promise<StreamEvent[]> {
    const after = Number.isFinite(afterSeq) ? String(afterSeq) : afterSeq > 0 ? '+inf' : '-inf';
    return fromJson<StreamEvent[]>(await this.run(SCRIPTS.read, [this.eventsKey(id)], [after]));
  }

  async listSessions(tenant: string | undefined): Promise<SessionRecord[]> {
    const now = Date.now();
    const reply = await this.run(SCRIPTS.list, [this.tenantKey(tenant)], [String(now), this.recordKey('')]);
    return fromJson<SessionRecord[]>(reply).filter((r) => r.expiresAt > now && r.tenant === tenant);
  }

  async addPendingCall(sessionId: string, callId: string): Promise<void> {
    await this.run(SCRIPTS.addPending, [this.recordKey(sessionId), this.pendingKey(sessionId)], [callId]);
  }

  async claimPendingCall(sessionId: string, callId: string): Promise<boolean> {
    return Number(await this.run(SCRIPTS.claim, [this.pendingKey(sessionId)], [callId])) === 1;
  }

  async renewLease(instanceId: string, ttlMs: number): Promise<void> {
    await this.run(SCRIPTS.renewLease, [this.leaseKey(instanceId)], [String(Date.now()), String(Math.max(1, Math.ceil(ttlMs)))]);
  }

  async leaseAlive(instanceId: string): Promise<boolean> {
    return Number(await this.run(SCRIPTS.leaseAlive, [this.leaseKey(instanceId)], [])) === 1;
  }

  async takeOverSession(id: string, takeover: SessionTakeover, events: StreamEvent[], patch: SessionPatch): Promise<boolean> {
    const fields = recordFields(patch, true);
    const reply = await this.run(
      SCRIPTS.takeOver,
      [this.recordKey(id), this.eventsKey(id), this.leaseKey(takeover.owner)],
      [
        JSON.stringify(takeover.owner),
        String(takeover.lastSeq),
        takeover.ignoreLease ? '1' : '0',
        String(this.maxEvents),
        String(fields.length / 2),
        ...fields,
        ...eventArgs(events),
      ],
    );
    return Number(reply) === 1;
  }

  async appendJournal(id: string, entries: unknown[], expiresAt: number): Promise<void> {
    if (!entries.length) return;
    await this.run(SCRIPTS.appendJournal, [this.journalKey(id)], [String(expiresAt), ...entries.map((e) => JSON.stringify(e))]);
  }

  async readJournal(id: string): Promise<unknown[]> {
    return fromJson<unknown[]>(await this.run(SCRIPTS.readJournal, [this.journalKey(id)], []));
  }

  async increment(key: string, windowMs: number): Promise<CounterResult> {
    const window = Math.max(1, Math.ceil(windowMs));
    const reply = await this.run(SCRIPTS.increment, [this.counterKey(key)], [String(window)]);
    const [count, ttl] = fromJson<[number, number]>(reply);
    return { count: Number(count), resetAt: Date.now() + Number(ttl) };
  }

  /** The channel name used on the wire for `channel`. */
  protected channelName(channel: string): string {
    return `${this.prefix}ch:${channel}`;
  }

  protected recordKey(id: string): string {
    return `${this.prefix}session:${id}`;
  }

  private eventsKey(id: string): string {
    return `${this.prefix}events:${id}`;
  }

  private journalKey(id: string): string {
    return `${this.prefix}journal:${id}`;
  }

  private pendingKey(id: string): string {
    return `${this.prefix}pending:${id}`;
  }

  private tenantKey(tenant: string | undefined): string {
    return tenant === undefined ? `${this.prefix}sessions-without-tenant` : `${this.prefix}tenant:${tenant}`;
  }

  private leaseKey(instanceId: string): string {
    return `${this.prefix}lease:${instanceId}`;
  }

  private counterKey(key: string): string {
    return `${this.prefix}counter:${key}`;
  }

  private async run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    const sha = await script.sha();
    try {
      return await this.command(() => this.evalsha(sha, keys, args));
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return this.command(() => this.evalScript(script.source, keys, args));
    }
  }
}
