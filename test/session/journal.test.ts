import { describe, expect, it } from 'vitest';
import { Journal, MAX_JOURNAL_BYTES, readJournalEntries, type JournalEntry, type JournalSpec } from '../../src/session/journal.js';
import { silentLogger } from '../../src/logger.js';
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
  kind: 'spec',
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
    for (let t = 1; t <= 4; t++) journal.append({ kind: 'timer', timer: t, at: t });
    expect(journal.isDurable(1)).toBe(false);
    await journal.whenDurable(4);
    expect(store.writes.map((w) => w.map((e) => e.kind))).toEqual([
      ['spec', 'timer'],
      ['timer', 'timer', 'timer'],
    ]);
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
    journal.append({ kind: 'result', callId: 'c_1', settlement: { ok: true, resultJson: '1', at: 5 } });
    journal.append({ kind: 'result', callId: 'c_2', settlement: { ok: true, resultJson: '2', at: 6 } });
    journal.finish();
    await journal.whenDurable(2);
    expect(store.writes.flat().map((e) => e.kind)).toEqual(['spec', 'result', 'result']);
  });

  it('stops past its bounds: a stop mark, no more writes, no more waiting', async () => {
    const store = new RecordingStore();
    const journal = await journalOn(store);
    const big = 'x'.repeat(4 * 1024 * 1024);
    for (let i = 0; journal.stopped === false; i++) {
      expect(i * big.length).toBeLessThanOrEqual(MAX_JOURNAL_BYTES);
      journal.append({ kind: 'result', callId: `c_${i}`, settlement: { ok: true, resultJson: JSON.stringify(big) } });
    }
    expect(journal.isDurable(journal.inputs.length)).toBe(true);
    await sleep(10);
    expect(store.writes.flat().at(-1)).toEqual({ kind: 'stop' });
    const writes = store.writes.length;
    journal.append({ kind: 'timer', timer: 1, at: 1 });
    await sleep(10);
    expect(store.writes).toHaveLength(writes);
    journal.trim(journal.inputs.length);
    expect(journal.inputs).toEqual([]);
  });

  it('keeps inputs in memory only without a store', async () => {
    const journal = new Journal(undefined);
    expect(journal.persistent).toBe(false);
    journal.append({ kind: 'timer', timer: 1, at: 1 });
    expect(journal.isDurable(1)).toBe(true);
    expect(journal.inputs).toEqual([{ kind: 'timer', timer: 1, at: 1 }]);
  });

  it('stores entries with named kinds and fields, and reads back the one-letter form of release 0.1', async () => {
    const store = new RecordingStore();
    const journal = await journalOn(store);
    journal.setSpec(SPEC, 1000);
    journal.append({ kind: 'result', callId: 'c_1', settlement: { ok: true, resultJson: '1', at: 5 } });
    journal.append({ kind: 'timer', timer: 3, at: 7 });
    await journal.note({ kind: 'approved', callId: 'c_2', at: 8 });
    await journal.whenDurable(2);
    const written = store.writes.flat();
    expect(JSON.stringify(written)).not.toMatch(/"k":/);
    // Written and read back: the same entries.
    expect(readJournalEntries(JSON.parse(JSON.stringify(written)) as unknown[])).toEqual(written);

    const { kind: _kind, ...specBody } = SPEC;
    const old: unknown[] = [
      { k: 'spec', ...specBody },
      { k: 'r', c: 'c_1', s: { ok: false, error: { code: 'TOOL_ERROR', message: 'no' }, at: 5 } },
      { k: 't', t: 3, at: 7 },
      { k: 'a', c: 'c_2', at: 8 },
      { k: 'm', c: 'c_3', input: { result: 42 } },
      { k: 'd', c: 'c_4', approve: false, reason: 'not today' },
      { k: 'd', c: 'c_5', approve: true },
      { k: 'x' },
      // Not entries of either form: left out.
      null,
      'r',
      { k: '?' },
      { kind: 'unknown' },
    ];
    expect(readJournalEntries(old)).toEqual([
      { kind: 'spec', ...specBody },
      { kind: 'result', callId: 'c_1', settlement: { ok: false, error: { code: 'TOOL_ERROR', message: 'no' }, at: 5 } },
      { kind: 'timer', timer: 3, at: 7 },
      { kind: 'approved', callId: 'c_2', at: 8 },
      { kind: 'mailed-result', callId: 'c_3', input: { result: 42 } },
      { kind: 'mailed-decision', callId: 'c_4', approve: false, reason: 'not today' },
      { kind: 'mailed-decision', callId: 'c_5', approve: true },
      { kind: 'stop' },
    ]);
    // A journal begun by the old release and continued by this one reads as one.
    expect(readJournalEntries([...old.slice(0, 2), ...written.slice(1)]).map((e) => e.kind)).toEqual(['spec', 'result', 'result', 'timer', 'approved']);
  });
});
