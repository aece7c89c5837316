import { describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import type { SessionRecord } from '../../src/store/types.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { execute, readEvents, startBroker } from '../helpers/broker.js';
import { storeContract } from './contract.js';

// One process: the "other" store of a test is the same instance, as the broker would share it.
const stores = new Map<number | undefined, MemoryStore>();

storeContract('memory', {
  async create(options) {
    const max = options?.maxEventsPerSession;
    let store = stores.get(max);
    if (!store) stores.set(max, (store = new MemoryStore({ maxEventsPerSession: max })));
    return store;
  },
});

describe('memory store: maxSessions', () => {
  const record = (id: string): SessionRecord => {
    const now = Date.now();
    return { id, status: 'running', createdAt: now, expiresAt: now + 60_000, owner: 'instance-a', lastSeq: 0 };
  };

  it('drops the oldest ended sessions past the limit and never a session that has not ended', async () => {
    const store = new MemoryStore({ maxSessions: 3 });
    await store.createSession(record('s_live'));
    await store.createSession(record('s_a'));
    await store.createSession(record('s_b'));
    await store.appendEvents('s_a', [], { status: 'completed' });
    await store.appendEvents('s_b', [], { status: 'error' });
    await store.createSession(record('s_c'));
    // Over by one: the oldest ended session goes; the older live one stays.
    expect(await store.getSession('s_a')).toBeNull();
    expect(await store.getSession('s_live')).not.toBeNull();
    expect(await store.getSession('s_b')).not.toBeNull();
    await store.createSession(record('s_d'));
    expect(await store.getSession('s_b')).toBeNull();
    // Only live sessions left: the store goes past its limit rather than drop one.
    await store.createSession(record('s_e'));
    for (const id of ['s_live', 's_c', 's_d', 's_e']) expect(await store.getSession(id)).not.toBeNull();
    await store.close();
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new MemoryStore({ maxSessions: 0 })).toThrow(/maxSessions/);
    expect(() => new MemoryStore({ maxSessions: 1.5 })).toThrow(/maxSessions/);
  });
});

describe('memory store: ended sessions are compacted', () => {
  const record = (id: string): SessionRecord => {
    const now = Date.now();
    return { id, status: 'running', createdAt: now, expiresAt: now + 60_000, owner: 'instance-a', lastSeq: 0 };
  };
  const event = (sessionId: string, seq: number, type: string, payload: unknown) =>
    ({ protocolVersion: 2, sessionId, seq, timestamp: 1764201600000 + seq, type, payload }) as StreamEvent;

  it('keeps an ended session as one string (no event objects, pending calls or journal) and replays it exactly', async () => {
    const store = new MemoryStore();
    const id = 's_compact1';
    await store.createSession(record(id), [event(id, 1, 'session_init', { replayUrl: `/sessions/${id}/events` })]);
    await store.addPendingCall(id, 'c_1');
    await store.appendJournal(id, [{ k: 'spec' }]);
    // Text that must come back as it was: the id inside values, a NUL, unicode, newlines.
    const tricky = { chunk: `${id} \u0000 naïve ✓ 😀\n${id}${id}` };
    await store.appendEvents(id, [event(id, 2, 'stdout', tricky), event(id, 3, 'tool_call', { callId: 'c_1' })]);
    const before = await store.readEvents(id, 0);
    expect(store.footprint(id)).toEqual({ compacted: false, liveEvents: 3, logChars: 0, pendingCalls: 1, journalEntries: 1 });

    const ending = [event(id, 4, 'final', { ok: true, result: 3, stats: { durationMs: 1, toolCallCount: 1, stdoutBytes: 0 } })];
    await store.appendEvents(id, ending, { status: 'completed', endedAt: Date.now() });
    // Compacted in a batch shortly after the end (off the path that delivers `final`).
    expect(store.footprint(id)).toMatchObject({ compacted: false, liveEvents: 4 });
    expect(await store.readEvents(id, 3)).toEqual(ending);
    expect(store.compactEnded()).toBe(1);
    expect(store.compactEnded()).toBe(0);
    const footprint = store.footprint(id)!;
    expect(footprint).toMatchObject({ compacted: true, liveEvents: 0, pendingCalls: 0, journalEntries: 0 });
    // The id (repeated by every event) is not stored again in the log.
    expect(footprint.logChars).toBeLessThan(JSON.stringify([...before, ...ending]).length - 4 * id.length);

    expect(await store.readEvents(id, 0)).toEqual([...before, ...ending]);
    expect(await store.readEvents(id, 2)).toEqual([before[2], ...ending]);
    expect(await store.readEvents(id, 4)).toEqual([]);
    expect(await store.getSession(id)).toMatchObject({ status: 'completed', lastSeq: 4 });
    // Nothing runs it any more: its calls are not pending, its journal is not kept.
    expect(await store.claimPendingCall(id, 'c_1')).toBe(false);
    await store.addPendingCall(id, 'c_2');
    expect(await store.claimPendingCall(id, 'c_2')).toBe(false);
    await store.appendJournal(id, [{ k: 'r' }]);
    expect(await store.readJournal(id)).toEqual([]);
    await store.close();
  });

  it('takes events appended after the end (a takeover) and compacts again', async () => {
    const store = new MemoryStore({ maxEventsPerSession: 3 });
    const id = 's_compact2';
    await store.createSession(record(id));
    await store.appendEvents(
      id,
      [1, 2, 3, 4].map((seq) => event(id, seq, 'stdout', { chunk: `${seq}` })),
    );
    await store.appendEvents(id, [event(id, 5, 'error', { code: 'X' })], { status: 'error', errorCode: 'X' });
    store.compactEnded();
    expect(store.footprint(id)).toMatchObject({ compacted: true, liveEvents: 0 });
    expect((await store.readEvents(id, 0)).map((e) => e.seq)).toEqual([3, 4, 5]);
    await store.appendEvents(id, [event(id, 6, 'final', { ok: false })], { lastSeq: 6 });
    expect(store.footprint(id)).toMatchObject({ compacted: false, liveEvents: 3 });
    expect(store.compactEnded()).toBe(1);
    expect(store.footprint(id)).toMatchObject({ compacted: true, liveEvents: 0 });
    expect((await store.readEvents(id, 0)).map((e) => e.seq)).toEqual([4, 5, 6]);
    expect((await store.getSession(id))!.errorCode).toBe('X');
    await store.close();
  });

  it('holds a short session that ended under 1 KiB of log, and replays it over HTTP', async () => {
    const store = new MemoryStore();
    const tools = new ToolRegistry();
    tools.register({ name: 'echo', description: 'returns its arguments', parameters: {}, handler: async (args) => args });
    const server = await startBroker({ store, tools, runtimePool: false });
    try {
      const ids: string[] = [];
      for (const code of ['return 1 + 2', 'throw new Error("no")', 'console.log("hi"); return await callTool("echo", { a: 1 })']) {
        const events = await execute(server.url, { code });
        ids.push(events[0]!.sessionId);
        const id = events[0]!.sessionId;
        // The store's own timer compacts it within about a second.
        await vi.waitFor(() => expect(store.footprint(id)).toMatchObject({ compacted: true, liveEvents: 0, pendingCalls: 0, journalEntries: 0 }), {
          timeout: 10_000,
          interval: 50,
        });
        const replay = await readEvents(await fetch(`${server.url}/sessions/${id}/events?after=1`));
        expect(replay).toEqual(events.slice(1));
      }
      expect(store.footprint(ids[0]!)!.logChars).toBeLessThan(1024);
    } finally {
      await server.close();
    }
  });
});
