import type { StreamEvent } from '../protocol/events.js';
import * as scripts from './redis-scripts.js';
import { OP, type OpCode } from './redis-scripts.js';
import { SessionFencedError } from './errors.js';
import type {
  BrokerStore,
  CounterResult,
  EventWrite,
  FenceState,
  SessionFence,
  SessionPatch,
  SessionRecord,
  SessionRestore,
  SessionTakeover,
  Unsubscribe,
} from './types.js';

export interface LuaStoreOptions {
  /** Prepended to every key and channel name. Default `enclave:`. */
  prefix?: string;
  /** Events kept per session; older ones are dropped first. Default 10000. */
  maxEventsPerSession?: number;
}

/** A script and its SHA-1, computed once with Web Crypto (Node, Bun and Workers alike). */
class Script {
  private digest: Promise<string> | undefined;
  /** The SHA-1 once known (so that a call needs no await for it). */
  known: string | undefined;
  constructor(readonly source: string) {}

  sha(): Promise<string> {
    this.digest ??= crypto.subtle.digest('SHA-1', new TextEncoder().encode(this.source)).then((buf) => {
      this.known = Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
      return this.known;
    });
    return this.digest;
  }
}

const SCRIPT = new Script(scripts.BATCH);

/**
 * A tenant index loses its expired entries on every PRUNE_EVERY-th session created (and on
 * every listing): enough to keep it from growing, without the cost on each session.
 */
const PRUNE_EVERY = 16;

/** Operations sent in one script call at most (more go in the next calls, in order). */
const MAX_BATCH = 128;

/** Runs `fn` once the current turn of the event loop is done (after its I/O callbacks on Node and Bun). */
const later: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (fn) => void (globalThis as unknown as { setImmediate(fn: () => void): unknown }).setImmediate(fn)
    : queueMicrotask;

interface Operation {
  code: OpCode;
  keys: string[];
  args: string[];
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** Record fields in hash order; values are stored as JSON. */
const FIELDS = ['id', 'status', 'createdAt', 'expiresAt', 'owner', 'tenant', 'lastSeq', 'endedAt', 'errorCode', 'epoch', 'renewedAt'] as const;

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

/** The part of a key a cluster hashes: its first non-empty `{…}`, else the whole key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** The fence arguments of an operation: owner (as stored: JSON) and epoch, or none. */
function fenceArgs(fence: SessionFence | undefined): [string, string] {
  return fence ? [JSON.stringify(fence.owner), String(fence.epoch)] : ['', ''];
}

/** Throws when a fenced operation answered that its fence does not hold. */
function checkFence(answer: unknown): void {
  if (answer === 'lost' || answer === 'missing') throw new SessionFencedError(answer);
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.toUpperCase().includes('NOSCRIPT');
}

/** An operation the server ran and rejected (a bug, not an outage). */
export class StoreScriptError extends Error {
  override readonly name = 'StoreScriptError';
}

/**
 * The data side of a Redis-protocol store. Every method is one operation of one Lua script
 * (EVALSHA, falling back to EVAL after a script-cache flush), so each is atomic. The
 * operations issued in one turn of the event loop, by any session, go out together as one
 * script call: one round trip, one command, run in the order they were issued (a session's
 * record and journal, or its events and their notification, are written together). Every key
 * carries the prefix and expires: a session's record, events, journal and pending calls at its
 * `expiresAt`, a tenant index at its latest session's `expiresAt`, a counter at the end of its
 * window. Subclasses supply the transport, the subscriptions and error mapping.
 */
export abstract class LuaStore implements BrokerStore {
  abstract readonly name: string;
  readonly shared = true;
  readonly prefix: string;
  protected readonly maxEvents: number;
  private queue: Operation[] = [];
  private scheduled = false;
  /** Sessions created: the tenant index is pruned of expired entries on every PRUNE_EVERY-th. */
  private creates = 0;

  constructor(options: LuaStoreOptions = {}) {
    this.prefix = options.prefix ?? 'enclave:';
    this.maxEvents = Math.max(1, options.maxEventsPerSession ?? 10_000);
  }

  abstract connect(): Promise<void>;
  abstract close(): Promise<void>;
  abstract subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;

  /** Runs one command; maps transport failures to `StoreUnavailableError`. */
  protected abstract command<T>(run: () => Promise<T>): Promise<T>;
  protected abstract evalsha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  protected abstract evalScript(source: string, keys: string[], args: string[]): Promise<unknown>;
  protected abstract scriptLoad(source: string): Promise<unknown>;

  /**
   * Whether the server is a cluster: keys of different sessions (and leases, counters,
   * indexes) may then not meet in one script, and the operations of a turn go out as one
   * script call per hash slot instead of one call for all.
   */
  protected get clustered(): boolean {
    return false;
  }

  /** The hash slot of a key (clusters only). */
  protected slotOf(key: string): number | string {
    return hashTag(key);
  }

  /** The command scripts publish with: sharded pub/sub on a cluster. */
  protected get publishCommand(): string {
    return this.clustered ? 'SPUBLISH' : 'PUBLISH';
  }

  /** The message as published on the wire (a subclass may wrap it for its subscribers). */
  protected wireMessage(message: string): string {
    return message;
  }

  /**
   * Loads the script into the server's script cache, so that the first calls cost one round
   * trip too. Called by `connect()`; harmless to repeat.
   */
  protected async loadScripts(): Promise<void> {
    await Promise.all([SCRIPT.sha(), this.command(() => this.scriptLoad(SCRIPT.source))]);
  }

  async createSession(record: SessionRecord, events: StreamEvent[] = []): Promise<void> {
    const last = events[events.length - 1];
    const stored = { epoch: 1, ...record, ...(last ? { lastSeq: Math.max(record.lastSeq, last.seq) } : {}) };
    delete stored.renewedAt;
    const fields = recordFields(stored, false);
    const id = record.id;
    const created = this.op(
      OP.create,
      [this.recordKey(id), this.eventsKey(id), this.pendingKey(id), this.journalKey(id)],
      [String(record.expiresAt), String(this.maxEvents), String(fields.length / 2), ...fields, ...eventArgs(events)],
    );
    await Promise.all([created, this.index(id, record.tenant, record.expiresAt)]);
  }

  /** Adds a session to its tenant's index (its own key: on a cluster, its own slot). */
  private index(id: string, tenant: string | undefined, expiresAt: number): Promise<unknown> {
    return this.op(OP.index, [this.tenantKey(tenant)], [id, String(expiresAt), this.creates++ % PRUNE_EVERY === 0 ? String(Date.now()) : '']);
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const record = (await this.op(OP.get, [this.recordKey(id)], [])) as SessionRecord | null;
    // Redis expires keys on its own clock; answer by ours too, as the memory store does.
    return record && record.expiresAt > Date.now() ? record : null;
  }

  async appendEvents(id: string, events: StreamEvent[], patch?: SessionPatch, write?: EventWrite): Promise<void> {
    const fields = patch ? recordFields(patch, true) : [];
    if (!events.length && !fields.length) return;
    const notify = write?.notify;
    const answer = await this.op(
      OP.append,
      [this.recordKey(id), this.eventsKey(id), this.channelName(`ev:${id}`)],
      [
        String(this.maxEvents),
        ...fenceArgs(write?.fence),
        notify === undefined ? '' : this.publishCommand,
        notify === undefined ? '' : this.wireMessage(notify),
        String(fields.length / 2),
        ...fields,
        ...eventArgs(events),
      ],
    );
    checkFence(answer);
  }

  async readEvents(id: string, afterSeq: number): Promise<StreamEvent[]> {
    const after = Number.isFinite(afterSeq) ? String(afterSeq) : afterSeq > 0 ? '+inf' : '-inf';
    return (await this.op(OP.read, [this.eventsKey(id)], [after])) as StreamEvent[];
  }

  async listSessions(tenant: string | undefined): Promise<SessionRecord[]> {
    const now = Date.now();
    const [before, after] = this.clustered ? ['', ''] : this.recordKey('\u0000').split('\u0000');
    let records = (await this.op(OP.list, [this.tenantKey(tenant)], [String(now), before!, after!])) as (SessionRecord | string | null)[];
    if (this.clustered) {
      records = await Promise.all(records.map((id) => this.op(OP.get, [this.recordKey(id as string)], []) as Promise<SessionRecord | null>));
    }
    return records.filter((r): r is SessionRecord => !!r && typeof r === 'object' && r.expiresAt > now && r.tenant === tenant);
  }

  async addPendingCall(sessionId: string, callId: string, fence?: SessionFence): Promise<void> {
    checkFence(await this.op(OP.addPending, [this.recordKey(sessionId), this.pendingKey(sessionId)], [callId, ...fenceArgs(fence)]));
  }

  async claimPendingCall(sessionId: string, callId: string): Promise<boolean> {
    return (await this.op(OP.claim, [this.pendingKey(sessionId)], [callId])) === 1;
  }

  async renewLease(instanceId: string, ttlMs: number): Promise<void> {
    await this.op(OP.renewLease, [this.leaseKey(instanceId)], [String(Date.now()), String(Math.max(1, Math.ceil(ttlMs)))]);
  }

  async leaseAlive(instanceId: string): Promise<boolean> {
    return (await this.op(OP.leaseAlive, [this.leaseKey(instanceId)], [])) === 1;
  }

  async renewSession(id: string, fence: SessionFence): Promise<FenceState> {
    return (await this.op(OP.renewSession, [this.recordKey(id)], fenceArgs(fence))) as FenceState;
  }

  async restoreSession(state: SessionRestore): Promise<'ok' | 'lost'> {
    const { record, events, journal, pending, fence } = state;
    const id = record.id;
    const fields = recordFields({ ...record, owner: fence.owner, epoch: fence.epoch }, false);
    const restored = this.op(
      OP.restore,
      [this.recordKey(id), this.eventsKey(id), this.pendingKey(id), this.journalKey(id), this.channelName(`ev:${id}`)],
      [
        ...fenceArgs(fence),
        String(record.expiresAt),
        String(this.maxEvents),
        this.publishCommand,
        String(fields.length / 2),
        ...fields,
        String(journal.length),
        ...journal.map((e) => JSON.stringify(e)),
        String(pending.length),
        ...pending,
        ...eventArgs(events),
      ],
    ) as Promise<'ok' | 'lost'>;
    const [answer] = await Promise.all([restored, this.index(id, record.tenant, record.expiresAt)]);
    return answer;
  }

  async takeOverSession(id: string, takeover: SessionTakeover, events: StreamEvent[], patch: SessionPatch): Promise<boolean> {
    const fields = recordFields(patch, true);
    // On a cluster the lease lives in another slot: it is checked first, apart; the script
    // checks the record's own renewal time (and the epoch fences the old owner in any case).
    const keys = [this.recordKey(id), this.eventsKey(id)];
    if (!this.clustered) keys.push(this.leaseKey(takeover.owner));
    else if (!takeover.ignoreLease && (await this.leaseAlive(takeover.owner))) return false;
    const reply = await this.op(OP.takeOver, keys, [
      JSON.stringify(takeover.owner),
      String(takeover.lastSeq),
      takeover.ignoreLease ? '1' : '0',
      String(this.maxEvents),
      String(Math.max(0, Math.ceil(takeover.leaseMs ?? 0))),
      String(fields.length / 2),
      ...fields,
      ...eventArgs(events),
    ]);
    return reply === 1;
  }

  async appendJournal(id: string, entries: unknown[], expiresAt: number, fence?: SessionFence): Promise<void> {
    if (!entries.length) return;
    checkFence(
      await this.op(
        OP.appendJournal,
        [this.journalKey(id), this.recordKey(id)],
        [String(expiresAt), ...fenceArgs(fence), ...entries.map((e) => JSON.stringify(e))],
      ),
    );
  }

  async readJournal(id: string): Promise<unknown[]> {
    return (await this.op(OP.readJournal, [this.journalKey(id)], [])) as unknown[];
  }

  async increment(key: string, windowMs: number): Promise<CounterResult> {
    const window = Math.max(1, Math.ceil(windowMs));
    const [count, ttl] = (await this.op(OP.increment, [this.counterKey(key)], [String(window)])) as [number, number];
    return { count, resetAt: Date.now() + ttl };
  }

  /** Published from the script, so it goes out with the writes issued with it (in order). */
  async publish(channel: string, message: string): Promise<number> {
    return (await this.op(OP.publish, [this.channelName(channel)], [this.publishCommand, this.wireMessage(message)])) as number;
  }

  /**
   * The channel name used on the wire for `channel`. `ev:<sessionId>` shares the session's
   * hash tag (a script that stores events publishes them on a cluster too); `owner:<id>` and
   * others get their own.
   */
  protected channelName(channel: string): string {
    const colon = channel.indexOf(':');
    if (colon < 0) return `${this.prefix}{${channel}}:ch`;
    return `${this.prefix}{${channel.slice(colon + 1)}}:${channel.slice(0, colon)}`;
  }

  // Every key of a session carries its id as hash tag ({s_…}): on a cluster they share a slot.

  protected recordKey(id: string): string {
    return `${this.prefix}{${id}}:session`;
  }

  private eventsKey(id: string): string {
    return `${this.prefix}{${id}}:events`;
  }

  private journalKey(id: string): string {
    return `${this.prefix}{${id}}:journal`;
  }

  private pendingKey(id: string): string {
    return `${this.prefix}{${id}}:pending`;
  }

  private tenantKey(tenant: string | undefined): string {
    return tenant === undefined ? `${this.prefix}{sessions-without-tenant}` : `${this.prefix}tenant:{${tenant}}`;
  }

  private leaseKey(instanceId: string): string {
    return `${this.prefix}lease:{${instanceId}}`;
  }

  private counterKey(key: string): string {
    return `${this.prefix}counter:{${key}}`;
  }

  /** Queues one operation for the next script call; resolves with its (parsed) answer. */
  private op(code: OpCode, keys: string[], args: string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ code, keys, args, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      later(() => this.flush());
    });
  }

  private flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    if (!this.clustered) return this.sendAll(queue);
    // A cluster runs a script on one slot: one call per slot, each in the order issued.
    const bySlot = new Map<number | string, Operation[]>();
    for (const op of queue) {
      const slot = this.slotOf(op.keys[0] ?? '');
      let ops = bySlot.get(slot);
      if (!ops) bySlot.set(slot, (ops = []));
      ops.push(op);
    }
    for (const ops of bySlot.values()) this.sendAll(ops);
  }

  private sendAll(queue: Operation[]): void {
    for (let i = 0; i < queue.length; i += MAX_BATCH) {
      void this.send(queue.length <= MAX_BATCH ? queue : queue.slice(i, i + MAX_BATCH));
    }
  }

  /** One script call for `ops`; settles each operation with its own answer. */
  private async send(ops: Operation[]): Promise<void> {
    const keys: string[] = [];
    const args: string[] = [String(ops.length), String(Date.now())];
    for (const op of ops) {
      args.push(String(op.code), String(op.keys.length), String(op.args.length));
      for (const k of op.keys) keys.push(k);
      for (const a of op.args) args.push(a);
    }
    let reply: unknown;
    try {
      reply = await this.run(keys, args);
    } catch (err) {
      for (const op of ops) op.reject(err);
      return;
    }
    if (!Array.isArray(reply) || reply.length !== ops.length) {
      const err = new StoreScriptError('the store answered a script call with an unexpected reply');
      for (const op of ops) op.reject(err);
      return;
    }
    for (let i = 0; i < ops.length; i++) {
      const answer: unknown = reply[i];
      const op = ops[i]!;
      if (typeof answer !== 'string' || answer.length === 0) op.reject(new StoreScriptError('the store answered an operation with an unexpected reply'));
      else if (answer.charCodeAt(0) === 61 /* = */) {
        try {
          op.resolve(JSON.parse(answer.slice(1)));
        } catch (err) {
          op.reject(err);
        }
      } else op.reject(new StoreScriptError(answer.slice(1)));
    }
  }

  private async run(keys: string[], args: string[]): Promise<unknown> {
    const sha = SCRIPT.known ?? (await SCRIPT.sha());
    try {
      return await this.command(() => this.evalsha(sha, keys, args));
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return this.command(() => this.evalScript(SCRIPT.source, keys, args));
    }
  }
}
