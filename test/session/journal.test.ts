import { describe, expect, it } from 'vitest';
import { Journal, MAX_JOURNAL_BYTES, type JournalEntry, type JournalSpec } from '../../src/session/journal.js';
import { silentLogger } from '../../src/session/types.js';
import { MemoryStore } from '../../src/store/memory.js';

/** The memory store, with every journal write it got. */
class RecordingStore extends MemoryStore {
  readonly writes: JournalEntry[][] = [];
  override async appendJournal(id: string, entries: unknown[]): Promise<void> {
    this.writes.push(entries as JournalEntry[]);
    await super.appendJournal(id, entries);
  }
}

const SPEC: JournalSpec = {
  k: 'spec',
  code: 'return 1',
  context: {},
  limits: {} as JournalSpec['limits'],
  identity: {},
  basePath: '',
  seed: 1,
  createdAt: 0,
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function journalOn(store: RecordingStore): Promise<Journal> {
  const id = `s_${Math.random().toString(36).slice(2)}`;
  await store.createSession({ id, status: 'running', createdAt: Date.now(), expiresAt: Date.now() + 60_000, owner: 'i_1', lastSeq: 0 });
  return new Journal({ store, sessionId: id, expiresAt: Date.now() + 60_000, logger: silentLogger });
}

describe('Journal', () => {
  it('writes inputs in batches: one write in flight, the rest in the next', async () => {
    const store = new RecordingStore();
    const journal = await journalOn(store);
    journal.setSpec(SPEC, 10_000);
    for (let t = 1; t <= 4; t++) journal.append({ k: 't', t, at: t });
    expect(journal.isDurable(1)).toBe(false);
    await journal.whenDurable(4);
    expect(store.writes.map((w) => w.map((e) => e.k))).toEqual([['spec', 't'], ['t', 't', 't']]);
    expect(journal.isDurable(4)).toBe(true);
  });

  it('writes the spec after its delay, and never for a session that ended first', async () => {
    const store = new RecordingStore();
    const quick = await journalOn(store);
    quick.setSpec(SPEC, 20);
    quick.finish();
    const slow = await journalOn(store);
    slow.setSpec(SPEC, 20);
    await sleep(60);
    expect(store.writes).toEqual([[SPEC]]);
  });

  it('writes what was recorded before the session ended, then closes', async () => {
    const store = new RecordingStore();
    const journal = await journalOn(store);
    journal.setSpec(SPEC, 10_000);
    journal.append({ k: 'r', c: 'c_1', s: { ok: true, resultJson: '1', at: 5 } });
    journal.append({ k: 'r', c: 'c_2', s: { ok: true, resultJson: '2', at: 6 } });
    journal.finish();
    await journal.whenDurable(2);
    expect(store.writes.flat().map((e) => e.k)).toEqual(['spec', 'r', 'r']);
  });

  it('stops past its bounds: a stop mark, no more writes, no more waiting', async () => {
    const store = new RecordingStore();
    const journal = await journalOn(store);
    const big = 'x'.repeat(4 * 1024 * 1024);
    for (let i = 0; journal.stopped === false; i++) {
      expect(i * big.length).toBeLessThanOrEqual(MAX_JOURNAL_BYTES);
      journal.append({ k: 'r', c: `c_${i}`, s: { ok: true, resultJson: JSON.stringify(big) } });
    }
    expect(journal.isDurable(journal.inputs.length)).toBe(true);
    await sleep(10);
    expect(store.writes.flat().at(-1)).toEqual({ k: 'x' });
    const writes = store.writes.length;
    journal.append({ k: 't', t: 1, at: 1 });
    await sleep(10);
    expect(store.writes).toHaveLength(writes);
    journal.trim(journal.inputs.length);
    expect(journal.inputs).toEqual([]);
  });

  it('keeps inputs in memory only without a store', async () => {
    const journal = new Journal(undefined);
    expect(journal.persistent).toBe(false);
    journal.append({ k: 't', t: 1, at: 1 });
    expect(journal.isDurable(1)).toBe(true);
    expect(journal.inputs).toEqual([{ k: 't', t: 1, at: 1 }]);
  });
});
