import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { SessionFencedError } from '../../src/store/errors.js';
import type { BrokerStore, SessionRecord } from '../../src/store/types.js';
import { storeFaultContract, type CountedStore, type StoreFaults } from './contract-faults.js';

export interface StoreFactoryOptions {
  prefix?: string;
  maxEventsPerSession?: number;
}

export interface StoreHarness {
  /** A new store; stores made by one harness share their data when the store is shared. */
  create(options?: StoreFactoryOptions): Promise<BrokerStore>;
  /** Every key of the backing server with its PTTL (Redis-protocol stores only). */
  keys?(): Promise<Array<{ key: string; pttl: number }>>;
  /** How the store is made unreachable (stores that talk to a server). */
  faults?: StoreFaults;
  /** A connected store whose requests to its server are counted. */
  counted?(): Promise<CountedStore>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it stops throwing, for up to 5 s. */
async function eventually(check: () => void | Promise<void>): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(10);
    }
  }
}

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    id: `s_${randomUUID()}`,
    status: 'running',
    createdAt: now,
    expiresAt: now + 60_000,
    owner: 'instance-a',
    lastSeq: 0,
    ...overrides,
  };
}

/** A record without what the store adds of its own for ownership (epoch, renewedAt). */
export function plain(r: SessionRecord | null | undefined): SessionRecord | null | undefined {
  if (!r) return r;
  const { epoch: _epoch, renewedAt: _renewedAt, ...rest } = r;
  return rest;
}

function stdout(sessionId: string, seq: number, chunk = `line ${seq}\n`): StreamEvent {
  return { protocolVersion: 2, sessionId, seq, timestamp: 1764201600000 + seq, type: 'stdout', payload: { chunk } };
}

function final(sessionId: string, seq: number): StreamEvent {
  return {
    protocolVersion: 2,
    sessionId,
    seq,
    timestamp: 1764201600000 + seq,
    type: 'final',
    payload: { ok: true, result: { value: 3 }, stats: { durationMs: 1, toolCallCount: 0, stdoutBytes: 0 } },
  };
}

/** The behaviour every `BrokerStore` adapter must have. */
export function storeContract(name: string, harness: StoreHarness): void {
  describe(`${name} store contract`, () => {
    const opened: BrokerStore[] = [];
    const open = async (options?: StoreFactoryOptions) => {
      const store = await harness.create(options);
      await store.connect();
      opened.push(store);
      return store;
    };
    afterAll(async () => {
      await Promise.all(opened.map((s) => s.close()));
    });

    it('stores a record and its first events, and answers null for an unknown id', async () => {
      const store = await open();
      const rec = record({ tenant: 'acme' });
      await store.createSession(rec, [stdout(rec.id, 1), stdout(rec.id, 2)]);
      expect(plain(await store.getSession(rec.id))).toEqual({ ...rec, lastSeq: 2 });
      expect((await store.readEvents(rec.id, 0)).map((e) => e.seq)).toEqual([1, 2]);
      expect(await store.getSession(`s_${randomUUID()}`)).toBeNull();
    });

    it('round-trips events exactly, unicode and newlines included', async () => {
      const store = await open();
      const rec = record();
      const events = [stdout(rec.id, 1, 'héllo 🌍\n"quoted"\t\\'), final(rec.id, 2)];
      await store.createSession(rec);
      await store.appendEvents(rec.id, events);
      expect(await store.readEvents(rec.id, 0)).toEqual(events);
    });

    it('forgets a session at expiresAt: record, events, pending calls and listing', async () => {
      const store = await open();
      const rec = record({ tenant: 'expiring', expiresAt: Date.now() + 1500 });
      await store.createSession(rec, [stdout(rec.id, 1)]);
      await store.addPendingCall(rec.id, 'c_1');
      expect(await store.getSession(rec.id)).not.toBeNull();
      expect((await store.listSessions('expiring')).map((r) => r.id)).toContain(rec.id);
      await sleep(rec.expiresAt - Date.now() + 150);
      expect(await store.getSession(rec.id)).toBeNull();
      expect(await store.readEvents(rec.id, 0)).toEqual([]);
      expect(await store.listSessions('expiring')).toEqual([]);
      expect(await store.claimPendingCall(rec.id, 'c_1')).toBe(false);
    });

    it('replays the events after a seq, in order', async () => {
      const store = await open();
      const rec = record();
      await store.createSession(rec);
      for (let seq = 1; seq <= 10; seq++) await store.appendEvents(rec.id, [stdout(rec.id, seq)]);
      expect((await store.readEvents(rec.id, 4)).map((e) => e.seq)).toEqual([5, 6, 7, 8, 9, 10]);
      expect((await store.readEvents(rec.id, 0)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(await store.readEvents(rec.id, 10)).toEqual([]);
      expect((await store.getSession(rec.id))!.lastSeq).toBe(10);
    });

    it('keeps at most maxEventsPerSession events, dropping the oldest', async () => {
      const store = await open({ maxEventsPerSession: 5 });
      const rec = record();
      await store.createSession(rec, [stdout(rec.id, 1), stdout(rec.id, 2), stdout(rec.id, 3)]);
      await store.appendEvents(
        rec.id,
        Array.from({ length: 9 }, (_, i) => stdout(rec.id, i + 4)),
      );
      expect((await store.readEvents(rec.id, 0)).map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
      expect((await store.getSession(rec.id))!.lastSeq).toBe(12);
    });

    it('keeps the newest maxEventsPerSession events through many appends, readable after any seq', async () => {
      const store = await open({ maxEventsPerSession: 4 });
      const rec = record();
      await store.createSession(rec);
      for (let seq = 1; seq <= 23; seq++) {
        await store.appendEvents(rec.id, [stdout(rec.id, seq)]);
        const kept = Array.from({ length: Math.min(seq, 4) }, (_, i) => seq - Math.min(seq, 4) + 1 + i);
        expect((await store.readEvents(rec.id, 0)).map((e) => e.seq)).toEqual(kept);
      }
      expect((await store.readEvents(rec.id, 21)).map((e) => e.seq)).toEqual([22, 23]);
      expect((await store.readEvents(rec.id, 5)).map((e) => e.seq)).toEqual([20, 21, 22, 23]);
      expect(await store.readEvents(rec.id, 23)).toEqual([]);
    });

    it('applies a patch with its events, and removes a field patched to undefined', async () => {
      const store = await open();
      const rec = record({ errorCode: 'TIMEOUT' });
      await store.createSession(rec, [stdout(rec.id, 1)]);
      const endedAt = Date.now();
      await store.appendEvents(rec.id, [final(rec.id, 2)], { status: 'completed', endedAt, errorCode: undefined });
      const got = await store.getSession(rec.id);
      expect(got).toMatchObject({ status: 'completed', endedAt, lastSeq: 2, owner: 'instance-a' });
      expect(got!.errorCode).toBeUndefined();
      // A patch alone (no events) applies too.
      await store.appendEvents(rec.id, [], { owner: 'instance-b' });
      expect((await store.getSession(rec.id))!.owner).toBe('instance-b');
    });

    it('never shows a patched record without the events appended with it', async () => {
      const writer = await open();
      const reader = await open();
      for (let round = 0; round < 5; round++) {
        const rec = record();
        await writer.createSession(rec);
        const events = Array.from({ length: 50 }, (_, i) => stdout(rec.id, i + 1));
        const write = writer.appendEvents(rec.id, [...events, final(rec.id, 51)], { status: 'completed' });
        let done = false;
        void write.then(() => (done = true));
        while (!done) {
          const seen = await reader.getSession(rec.id);
          if (seen?.status === 'completed') {
            expect((await reader.readEvents(rec.id, 0)).length).toBe(51);
            expect(seen.lastSeq).toBe(51);
          } else {
            expect(await reader.readEvents(rec.id, 0)).toEqual([]);
          }
        }
        await write;
      }
    });

    it('does not create anything when appending to a missing session', async () => {
      const store = await open();
      const id = `s_${randomUUID()}`;
      await store.appendEvents(id, [stdout(id, 1)], { status: 'completed' });
      await store.addPendingCall(id, 'c_1');
      expect(await store.getSession(id)).toBeNull();
      expect(await store.readEvents(id, 0)).toEqual([]);
      expect(await store.claimPendingCall(id, 'c_1')).toBe(false);
    });

    it('lists the sessions of one tenant, and those without a tenant apart', async () => {
      const store = await open();
      const tenant = `t-${randomUUID()}`;
      const a1 = record({ tenant });
      const a2 = record({ tenant });
      const b = record({ tenant: `${tenant}-other` });
      const none = record();
      for (const r of [a1, a2, b, none]) await store.createSession(r);
      const listed = await store.listSessions(tenant);
      expect(listed.map((r) => r.id).sort()).toEqual([a1.id, a2.id].sort());
      expect(plain(listed.find((r) => r.id === a1.id))).toEqual(a1);
      const withoutTenant = (await store.listSessions(undefined)).map((r) => r.id);
      expect(withoutTenant).toContain(none.id);
      expect(withoutTenant).not.toContain(a1.id);
      expect(withoutTenant).not.toContain(b.id);
    });

    it('counts in a fixed window and starts again after it', async () => {
      const store = await open();
      const key = `rate:${randomUUID()}`;
      const before = Date.now();
      const first = await store.increment(key, 200);
      const second = await store.increment(key, 200);
      const third = await store.increment(key, 200);
      expect([first.count, second.count, third.count]).toEqual([1, 2, 3]);
      expect(first.resetAt).toBeGreaterThan(before);
      expect(first.resetAt).toBeLessThanOrEqual(Date.now() + 200 + 50);
      expect((await store.increment(`${key}-other`, 200)).count).toBe(1);
      await sleep(third.resetAt - Date.now() + 100);
      const next = await store.increment(key, 200);
      expect(next.count).toBe(1);
      expect(next.resetAt).toBeGreaterThan(third.resetAt);
    });

    it('hands a pending call to exactly one claimer, even concurrently', async () => {
      const [a, b] = [await open(), await open()];
      const rec = record();
      await a.createSession(rec);
      await a.addPendingCall(rec.id, 'c_1');
      await a.addPendingCall(rec.id, 'c_2');
      const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claimPendingCall(rec.id, 'c_1')));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await b.claimPendingCall(rec.id, 'c_1')).toBe(false);
      expect(await b.claimPendingCall(rec.id, 'c_unknown')).toBe(false);
      expect(await b.claimPendingCall(rec.id, 'c_2')).toBe(true);
      expect(await a.claimPendingCall(rec.id, 'c_2')).toBe(false);
    });

    it('delivers published messages to every subscriber until it unsubscribes', async () => {
      const [a, b] = [await open(), await open()];
      const channel = `owner-${randomUUID()}`;
      const gotA: string[] = [];
      const gotB: string[] = [];
      const other: string[] = [];
      const unsubA = await a.subscribe(channel, (m) => gotA.push(m));
      const unsubB = await b.subscribe(channel, (m) => gotB.push(m));
      const unsubOther = await b.subscribe(`${channel}-other`, (m) => other.push(m));
      const message = JSON.stringify({ kind: 'tool_result', text: 'two\nlines, "quotes" ü' });
      await a.publish(channel, message);
      await b.publish(channel, 'plain text, with commas');
      await eventually(() => {
        expect(gotA).toEqual([message, 'plain text, with commas']);
        expect(gotB).toEqual([message, 'plain text, with commas']);
      });
      await unsubA();
      await a.publish(channel, 'after');
      await eventually(() => expect(gotB).toContain('after'));
      expect(gotA).not.toContain('after');
      expect(other).toEqual([]);
      await unsubB();
      await unsubOther();
    });

    it('keeps events in seq order under concurrent writers', async () => {
      const [a, b] = [await open(), await open()];
      const rec = record();
      await a.createSession(rec);
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).appendEvents(rec.id, [stdout(rec.id, i + 1)])));
      const seqs = (await b.readEvents(rec.id, 0)).map((e) => e.seq);
      expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect((await a.getSession(rec.id))!.lastSeq).toBe(40);
      expect((await b.readEvents(rec.id, 38)).map((e) => e.seq)).toEqual([39, 40]);
    });

    it('keeps an owner lease alive while it is renewed, and lets it lapse after its TTL', async () => {
      const [a, b] = [await open(), await open()];
      const owner = `i_${randomUUID()}`;
      expect(await b.leaseAlive(owner)).toBe(false);
      await a.renewLease(owner, 400);
      expect(await b.leaseAlive(owner)).toBe(true);
      expect(await b.leaseAlive(`${owner}-other`)).toBe(false);
      for (let i = 0; i < 3; i++) {
        await sleep(200);
        await a.renewLease(owner, 400);
        expect(await b.leaseAlive(owner)).toBe(true);
      }
      await eventually(async () => expect(await b.leaseAlive(owner)).toBe(false));
    });

    it('takes over a session whose owner lease lapsed, exactly once, with the next seqs', async () => {
      const [a, b] = [await open(), await open()];
      const dead = `i_${randomUUID()}`;
      const live = `i_${randomUUID()}`;
      await a.renewLease(live, 60_000);
      const lost = record({ owner: dead });
      const kept = record({ owner: live });
      await a.createSession(lost, [stdout(lost.id, 1)]);
      await a.createSession(kept, [stdout(kept.id, 1)]);
      const ending = (id: string) => [stdout(id, 2, 'error'), final(id, 3)];
      const patch = { status: 'error' as const, endedAt: Date.now(), errorCode: 'SESSION_LOST' };

      // The owner is alive: nothing happens.
      expect(await b.takeOverSession(kept.id, { owner: live, lastSeq: 1 }, ending(kept.id), patch)).toBe(false);
      expect((await a.getSession(kept.id))!.status).toBe('running');
      // A stale view (another owner, another lastSeq) changes nothing either.
      expect(await b.takeOverSession(lost.id, { owner: live, lastSeq: 1 }, ending(lost.id), patch)).toBe(false);
      expect(await b.takeOverSession(lost.id, { owner: dead, lastSeq: 0 }, ending(lost.id), patch)).toBe(false);
      expect(await b.readEvents(lost.id, 1)).toEqual([]);

      const wins = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).takeOverSession(lost.id, { owner: dead, lastSeq: 1 }, ending(lost.id), patch)),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect((await a.readEvents(lost.id, 0)).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(await a.getSession(lost.id)).toMatchObject({ status: 'error', errorCode: 'SESSION_LOST', lastSeq: 3, owner: dead });
      // Ended: no second take-over, whatever the caller saw.
      expect(await b.takeOverSession(lost.id, { owner: dead, lastSeq: 3 }, ending(lost.id), patch)).toBe(false);
      expect(await b.takeOverSession(`s_${randomUUID()}`, { owner: dead, lastSeq: 0 }, [], patch)).toBe(false);

      // The owner itself, restarted under the same id, may end what it lost despite its lease.
      expect(await a.takeOverSession(kept.id, { owner: live, lastSeq: 1, ignoreLease: true }, ending(kept.id), patch)).toBe(true);
      expect((await b.getSession(kept.id))!.status).toBe('error');
    });

    it('keeps a journal in order, when the store has one', async () => {
      const store = await open();
      if (!store.appendJournal || !store.readJournal) return;
      const rec = record();
      await store.createSession(rec);
      expect(await store.readJournal(rec.id)).toEqual([]);
      await store.appendJournal(rec.id, [{ k: 'spec', code: 'return "é\\n"' }], rec.expiresAt);
      await Promise.all([1, 2, 3].map((n) => store.appendJournal!(rec.id, [{ k: 'r', c: `c_${n}`, s: { ok: true, resultJson: String(n) } }], rec.expiresAt)));
      const journal = (await store.readJournal(rec.id)) as { k: string; c?: string }[];
      expect(journal[0]).toEqual({ k: 'spec', code: 'return "é\\n"' });
      expect(
        journal
          .slice(1)
          .map((e) => e.c)
          .sort(),
      ).toEqual(['c_1', 'c_2', 'c_3']);
    });

    it('fences the owner: writes with a stale epoch or owner are refused, a vanished record is reported', async () => {
      const store = await open();
      if (!store.shared || !store.renewSession || !store.restoreSession) return;
      const rec = record();
      await store.createSession(rec, [stdout(rec.id, 1)]);
      expect(await store.getSession(rec.id)).toMatchObject({ epoch: 1 });
      const mine = { owner: rec.owner, epoch: 1 };
      const refused = async (write: Promise<unknown>, state: 'lost' | 'missing') => {
        const err = await write.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(SessionFencedError);
        expect((err as SessionFencedError).state).toBe(state);
      };
      await store.appendEvents(rec.id, [stdout(rec.id, 2)], undefined, { fence: mine });
      await refused(store.appendEvents(rec.id, [stdout(rec.id, 3)], undefined, { fence: { owner: rec.owner, epoch: 2 } }), 'lost');
      await refused(store.appendEvents(rec.id, [stdout(rec.id, 3)], undefined, { fence: { owner: 'someone-else', epoch: 1 } }), 'lost');
      await refused(store.appendJournal!(rec.id, [{ k: 'r' }], rec.expiresAt, { owner: rec.owner, epoch: 7 }), 'lost');
      await refused(store.addPendingCall(rec.id, 'c_1', { owner: 'x', epoch: 1 }), 'lost');
      expect((await store.readEvents(rec.id, 0)).map((e) => e.seq)).toEqual([1, 2]);
      expect(await store.readJournal!(rec.id)).toEqual([]);
      expect(await store.claimPendingCall(rec.id, 'c_1')).toBe(false);
      expect(await store.renewSession(rec.id, mine)).toBe('ok');
      expect(await store.renewSession(rec.id, { owner: rec.owner, epoch: 2 })).toBe('lost');
      const gone = `s_${randomUUID()}`;
      expect(await store.renewSession(gone, mine)).toBe('missing');
      await refused(store.appendEvents(gone, [stdout(gone, 1)], undefined, { fence: mine }), 'missing');
      expect(await store.getSession(gone)).toBeNull();
    });

    it('takes a session over only once its owner has not renewed it for leaseMs, and fences the old owner', async () => {
      const [a, b] = [await open(), await open()];
      if (!a.shared || !a.renewSession) return;
      const rec = record({ owner: `i_${randomUUID()}` });
      await a.createSession(rec, [stdout(rec.id, 1)]);
      const old = { owner: rec.owner, epoch: 1 };
      // No lease at all (as after a store restart), but the record was renewed lately.
      expect(await b.takeOverSession(rec.id, { owner: rec.owner, lastSeq: 1, leaseMs: 60_000 }, [], { owner: 'i_new' })).toBe(false);
      await sleep(300);
      expect(await a.renewSession(rec.id, old)).toBe('ok');
      expect(await b.takeOverSession(rec.id, { owner: rec.owner, lastSeq: 1, leaseMs: 250 }, [], { owner: 'i_new' })).toBe(false);
      await sleep(300);
      expect(await b.takeOverSession(rec.id, { owner: rec.owner, lastSeq: 1, leaseMs: 250 }, [], { owner: 'i_new' })).toBe(true);
      expect(await b.getSession(rec.id)).toMatchObject({ owner: 'i_new', epoch: 2 });
      const err = await a.appendEvents(rec.id, [stdout(rec.id, 2)], undefined, { fence: old }).catch((e: unknown) => e);
      expect((err as SessionFencedError).state).toBe('lost');
      expect(await a.renewSession(rec.id, old)).toBe('lost');
      await b.appendEvents(rec.id, [stdout(rec.id, 2)], undefined, { fence: { owner: 'i_new', epoch: 2 } });
      expect((await a.readEvents(rec.id, 0)).map((e) => e.seq)).toEqual([1, 2]);
    });

    it('lets the owner write back a session the store lost, and never over another owner', async () => {
      const [a, b] = [await open(), await open()];
      if (!a.shared || !a.restoreSession) return;
      const rec = record({ tenant: `t-${randomUUID()}`, lastSeq: 2, epoch: 3 });
      const fence = { owner: rec.owner, epoch: 3 };
      const journal = [
        { k: 'spec', code: 'return 1' },
        { k: 'r', c: 'c_1' },
      ];
      const restore = (events: StreamEvent[]) => a.restoreSession!({ record: rec, events, journal, pending: ['c_9'], fence });
      expect(await restore([stdout(rec.id, 1), stdout(rec.id, 2)])).toBe('ok');
      expect(plain(await b.getSession(rec.id))).toEqual(plain(rec));
      expect(await b.getSession(rec.id)).toMatchObject({ epoch: 3 });
      expect((await b.readEvents(rec.id, 0)).map((e) => e.seq)).toEqual([1, 2]);
      expect(await b.readJournal!(rec.id)).toEqual(journal);
      expect((await b.listSessions(rec.tenant)).map((r) => r.id)).toEqual([rec.id]);
      // Again, with one more event: only what is missing is added.
      expect(await restore([stdout(rec.id, 1), stdout(rec.id, 2), stdout(rec.id, 3)])).toBe('ok');
      expect((await b.readEvents(rec.id, 0)).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(await b.readJournal!(rec.id)).toEqual(journal);
      expect(await b.claimPendingCall(rec.id, 'c_9')).toBe(true);
      expect((await b.getSession(rec.id))!.lastSeq).toBe(3);
      // Another owner holds it: nothing is written.
      const other = { ...rec, id: `s_${randomUUID()}` };
      await b.createSession({ ...other, owner: 'i_other' });
      expect(await a.restoreSession!({ record: other, events: [stdout(other.id, 1)], journal, pending: [], fence })).toBe('lost');
      expect(await b.readEvents(other.id, 0)).toEqual([]);
    });

    const keys = harness.keys?.bind(harness);
    if (keys) {
      it('puts every key under the prefix, each with a TTL', async () => {
        const prefix = `p${randomUUID().slice(0, 8)}:`;
        const store = await open({ prefix });
        const rec = record({ tenant: 'keys' });
        const anonymous = record();
        await store.createSession(rec, [stdout(rec.id, 1)]);
        await store.createSession(anonymous);
        await store.appendEvents(anonymous.id, [stdout(anonymous.id, 1)], { status: 'completed' });
        await store.addPendingCall(rec.id, 'c_1');
        await store.increment('counter-key', 60_000);
        await store.listSessions('keys');
        const all = await keys();
        const mine = all.filter((k) => k.key.includes(rec.id) || k.key.includes(anonymous.id) || k.key.includes('counter-key') || k.key.startsWith(prefix));
        // record, events and pending of one session, record and events of the other, two indexes, a counter
        expect(mine).toHaveLength(8);
        for (const k of mine) {
          expect(k.key.startsWith(prefix), k.key).toBe(true);
          expect(k.pttl, k.key).toBeGreaterThan(0);
          expect(k.pttl, k.key).toBeLessThanOrEqual(60_000);
        }
      });
    }

    storeFaultContract(harness.faults, harness.counted?.bind(harness));
  });
}
