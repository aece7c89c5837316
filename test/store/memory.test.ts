import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import type { SessionRecord } from '../../src/store/types.js';
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
