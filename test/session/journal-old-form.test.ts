import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { InlineExecutor } from '../../src/pool/inline.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import type { EventCursor } from '../../src/session/cursor.js';
import { Emitter } from '../../src/session/emitter.js';
import { brokerLimits } from '../../src/session/limits.js';
import { SessionManager } from '../../src/session/manager.js';
import { createToolResolver } from '../../src/session/tool-resolver.js';
import type { BrokerEventMap, SessionError } from '../../src/session/types.js';
import { silentLogger } from '../../src/logger.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { SessionRecord } from '../../src/store/types.js';
import { ToolRegistry } from '../../src/tools/registry.js';

// A journal written by release 0.1 (one-letter kinds and fields: `k`, `c`, `s`, `t`) must
// still replay. The fixture is what that release stored for a session stopped while it waited
// for two answers another process had taken and journaled as mail (a client result and an
// approval rejection): a server tool result, a timer firing, an approval, both mails.

/** A store whose data outlives its process (as a Durable Object's): its sessions are resumed. */
class KeptStore extends MemoryStore {
  readonly persistent = true;
}

interface Fixture {
  code: string;
  record: SessionRecord;
  events: StreamEvent[];
  journal: Record<string, unknown>[];
}

const TIME_KEYS = new Set(['createdAt', 'expiresAt', 'timestamp', 'at']);

/** Moves every time in the fixture by `delta` ms (the session must not have expired). */
function shifted<T>(value: T, delta: number): T {
  if (Array.isArray(value)) return value.map((v) => shifted(v, delta)) as T;
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = TIME_KEYS.has(key) && typeof v === 'number' ? v + delta : shifted(v, delta);
  return out as T;
}

let runs = 0;
function registry(): ToolRegistry {
  const tools = new ToolRegistry();
  tools.register({ name: 'count', description: 'counts its runs', parameters: {}, handler: async () => ({ runs: ++runs }) });
  tools.register({
    name: 'guarded',
    description: 'needs approval',
    parameters: { v: { type: 'number', description: 'v', required: true } },
    needsApproval: true,
    handler: async (args) => ({ v: args.v, runs: ++runs }),
  });
  return tools;
}

const managers: SessionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

async function readUntil(cursor: EventCursor, match: (e: StreamEvent) => boolean): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for (;;) {
    const e = await cursor.next();
    if (!e) throw new Error(`the stream ended after ${JSON.stringify(out.map((x) => x.type))}`);
    out.push(e);
    if (match(e)) return out;
  }
}

describe('a journal in the one-letter form of release 0.1', () => {
  it('is replayed by a process that resumes the session', async () => {
    const raw = JSON.parse(readFileSync(new URL('./fixtures/journal-v0.1.json', import.meta.url), 'utf8')) as Fixture;
    // The old form, as written.
    expect(raw.journal.map((e) => e.k)).toEqual(['spec', 'r', 't', 'a', 'r', 'm', 'd']);
    const spec = raw.journal[0] as { createdAt: number };
    const delta = Date.now() - spec.createdAt;
    const fixture = shifted(raw, delta);
    const { record, events, journal } = fixture;

    const store = new KeptStore();
    await store.createSession(record, events);
    await store.appendJournal(record.id, journal);
    runs = 0;
    const manager = new SessionManager({
      store,
      executor: new InlineExecutor({ prewarm: 0 }),
      resolveTool: createToolResolver({ tools: registry() }),
      events: new Emitter<BrokerEventMap>(),
      logger: silentLogger,
      limits: brokerLimits(),
      sessionTimeoutMs: 300_000,
      maxConcurrentSessions: 10,
      // The process restarted under the same id (a Durable Object): the session is its own.
      instanceId: record.owner,
    });
    managers.push(manager);
    await manager.start();

    // The explicit resume path (a Durable Object's alarm).
    await manager.recover(record.id);
    expect(manager.active).toBe(1);
    const cursor = await manager.read(record.id, 0, undefined);
    const before = await readUntil(cursor, (e) => e.type === 'tool_call' && (e.payload.args as { q?: number }).q === 2);
    const ask = before.at(-1)!;
    if (ask.type !== 'tool_call') throw new Error('no call');
    // What was stored before is not emitted again: the re-run went on from the journal.
    expect(before.slice(0, events.length)).toEqual(events);
    expect(before.slice(events.length).map((e) => e.type)).toEqual(['tool_result_applied', 'tool_result_applied', 'tool_call']);

    // The answers the mail gave are journaled by this process, in the named form, after the old entries.
    let stored = await store.readJournal(record.id);
    for (let i = 0; i < 200 && stored.length < journal.length + 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
      stored = await store.readJournal(record.id);
    }
    expect(stored.slice(0, journal.length)).toEqual(journal);
    expect(stored.slice(journal.length)).toEqual([
      { kind: 'result', callId: (journal[5] as { c: string }).c, settlement: expect.objectContaining({ ok: true, resultJson: '"forty-two"' }) },
      { kind: 'result', callId: (journal[6] as { c: string }).c, settlement: expect.objectContaining({ ok: false }) },
    ]);

    await manager.submitToolResult(record.id, ask.payload.callId, { result: 'last' }, undefined);
    const rest = await readUntil(cursor, (e) => e.type === 'final');
    const final = rest.at(-1)!;
    if (final.type !== 'final') throw new Error('no final');
    const stdout = events.find((e) => e.type === 'stdout');
    if (stdout?.type !== 'stdout') throw new Error('no stdout in the fixture');
    const logged = JSON.parse(stdout.payload.chunk) as { t0: number; r0: number };
    expect(final.payload.error as SessionError | undefined).toBeUndefined();
    expect(final.payload).toMatchObject({
      ok: true,
      result: {
        // The virtual clock starts where it did (moved with the fixture) and Math.random is seeded alike.
        t0: logged.t0 + delta,
        r0: logged.r0,
        t1: true,
        // Journaled server tool results: not run again.
        a: { runs: 1 },
        g: { v: 1, runs: 2 },
        // The mailed client answer and approval rejection.
        q: 'forty-two',
        h: { denied: 'not today' },
        last: 'last',
      },
    });
    expect(runs).toBe(0);
  });
});
