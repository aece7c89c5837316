import { randomUUID } from 'node:crypto';
import { expect, it, vi } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import type { BrokerStore, SessionRecord } from '../../src/store/types.js';

/** A connected store on a server of its own, which the test cuts off and lets back. */
export interface StoreOutage {
  store: BrokerStore;
  /** Makes the server unreachable (stopped, or the network to it cut). */
  cut(): Promise<void>;
  /** Makes it reachable again, at the same address. */
  heal(): Promise<void>;
  /**
   * Whether subscriptions made before the cut come back by themselves (a Redis subscriber
   * connection resubscribes; the Upstash store reopens a stream whose probe is not answered).
   * Otherwise a `subscribe()` once their handlers left must work.
   */
  resubscribes: boolean;
  close(): Promise<void>;
}

/** How a store that talks to a server is made unreachable (Redis-protocol stores). */
export interface StoreFaults {
  /** A store whose address nothing answers on, and how its `connect()` error names that address. */
  unreachable(): Promise<{ store: BrokerStore; names: string }>;
  outage(): Promise<StoreOutage>;
}

/** A connected store and the number of requests its server has received so far. */
export interface CountedStore {
  store: BrokerStore;
  requests(): number;
}

function record(id: string): SessionRecord {
  const now = Date.now();
  return { id, status: 'running', createdAt: now, expiresAt: now + 60_000, owner: 'instance-a', lastSeq: 0 };
}

function event(sessionId: string, seq: number): StreamEvent {
  return { protocolVersion: 2, sessionId, seq, timestamp: 0, type: 'stdout', payload: { chunk: 'x' } };
}

/** Retries `check` until it stops throwing, for up to 15 s. */
const eventually = (check: () => Promise<void>) => vi.waitFor(check, { timeout: 15_000, interval: 50 });

/**
 * Every call of a store, each of which must fail with `STORE_UNAVAILABLE` while the server
 * cannot be reached (the optional ones where the store has them).
 */
function everyCall(store: BrokerStore, id: string): Array<[string, () => Promise<unknown>]> {
  const fence = { owner: 'instance-a', epoch: 1 };
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['createSession', () => store.createSession(record(`s_${randomUUID()}`), [event(id, 1)])],
    ['getSession', () => store.getSession(id)],
    ['appendEvents', () => store.appendEvents(id, [event(id, 2)], { status: 'completed' })],
    ['readEvents', () => store.readEvents(id, 0)],
    ['listSessions', () => store.listSessions(undefined)],
    ['addPendingCall', () => store.addPendingCall(id, 'c_1')],
    ['claimPendingCall', () => store.claimPendingCall(id, 'c_1')],
    ['renewLease', () => store.renewLease('instance-a', 1000)],
    ['leaseAlive', () => store.leaseAlive('instance-a')],
    ['takeOverSession', () => store.takeOverSession(id, { owner: 'instance-a', lastSeq: 1 }, [], { status: 'error' })],
    ['increment', () => store.increment(`k-${id}`, 1000)],
    ['publish', () => store.publish('events', 'lost')],
    ['subscribe', () => store.subscribe('other', () => undefined)],
  ];
  if (store.appendJournal) calls.push(['appendJournal', () => store.appendJournal!(id, [{ k: 'r' }], Date.now() + 60_000)]);
  if (store.readJournal) calls.push(['readJournal', () => store.readJournal!(id)]);
  if (store.renewSession) calls.push(['renewSession', () => store.renewSession!(id, fence)]);
  if (store.restoreSession) {
    calls.push(['restoreSession', () => store.restoreSession!({ record: record(id), events: [], journal: [], pending: [], fence })]);
  }
  return calls;
}

/** The fault cases of the store contract (registered inside its `describe`). */
export function storeFaultContract(faults: StoreFaults | undefined, counted: (() => Promise<CountedStore>) | undefined): void {
  if (faults) {
    it('rejects connect() with STORE_UNAVAILABLE naming the address when nothing answers there', async () => {
      const { store, names } = await faults.unreachable();
      const err = (await store.connect().catch((e: unknown) => e)) as Error & { code?: string };
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe('STORE_UNAVAILABLE');
      expect(err.message).toContain(`${names} cannot be reached`);
      await store.close();
    });

    it('fails every call with STORE_UNAVAILABLE while the server is unreachable, and recovers by itself', { timeout: 60_000 }, async () => {
      const outage = await faults.outage();
      const { store } = outage;
      try {
        const received: string[] = [];
        const unsubscribe = await store.subscribe('events', (m) => received.push(m));
        const id = `s_${randomUUID()}`;
        await store.createSession(record(id), [event(id, 1)]);
        expect(await store.getSession(id)).not.toBeNull();

        await outage.cut();
        for (const [name, call] of everyCall(store, id)) {
          await expect(call(), name).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
        }

        await outage.heal();
        // Same store object: the client reconnects on its own (scripts are reloaded when the
        // server restarted empty).
        const after = `s_${randomUUID()}`;
        await eventually(async () => {
          await store.createSession(record(after));
        });
        expect(await store.getSession(after)).toMatchObject({ id: after, status: 'running' });
        expect((await store.increment(`k-${after}`, 60_000)).count).toBe(1);
        if (!outage.resubscribes) {
          await unsubscribe();
          await eventually(async () => void (await store.subscribe('events', (m) => received.push(m))));
        }
        await eventually(async () => {
          await store.publish('events', 'back');
          expect(received).toContain('back');
        });
        expect(received).not.toContain('lost');
      } finally {
        await outage.close();
      }
    });
  }

  if (counted) {
    it('costs one request per store call once connected', async () => {
      const { store, requests } = await counted();
      const id = `s_${randomUUID()}`;
      const calls: Array<() => Promise<unknown>> = [
        () => store.createSession(record(id), [event(id, 1)]),
        () => store.appendEvents(id, [event(id, 2)], { status: 'completed' }),
        () => store.getSession(id),
        () => store.readEvents(id, 0),
        () => store.listSessions(undefined),
        () => store.addPendingCall(id, 'c_1'),
        () => store.claimPendingCall(id, 'c_1'),
        () => store.increment(`rt-${id}`, 1000),
        () => store.publish('rt', 'm'),
      ];
      // connect() loaded the scripts: even the first call of each is one request.
      for (const call of calls) {
        const before = requests();
        await call();
        expect(requests() - before).toBe(1);
      }
      expect((await store.getSession(id))!.status).toBe('completed');
      await store.close();
    });
  }
}
