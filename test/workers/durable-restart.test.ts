import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { eventReader, finalOf, postJson, readEvents } from '../helpers/broker.js';
import { startWorkerd, type Workerd } from '../helpers/workerd.js';

// A session's Durable Object restarted mid-session (workerd restarted: in-memory state, the
// QuickJS heap included, lost; storage kept) resumes from the journal in its storage.
let w: Workerd;
beforeAll(async () => {
  w = await startWorkerd({ COUNT_RUNS: '1', RESUME_CHECK_MS: '300' });
});
afterAll(() => w?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CODE = `
const t0 = Date.now();
const r0 = Math.random();
const first = await callTool("runs:count", {});
await new Promise((r) => setTimeout(r, 5));
const [user, list] = await Promise.all([callTool("users:get", { id: "1" }), callTool("users:list", { limit: 1 })]);
console.log(JSON.stringify({ t0, r0, runs: first.runs }));
const answer = await callTool("ask", { q: 1 });
const second = await callTool("runs:count", {});
return { t0, r0, t1: Date.now() >= t0, user: user.name, n: list.length, answer, runs: [first.runs, second.runs] };
`;

const isAsk = (e: StreamEvent) => e.type === 'tool_call' && e.payload.toolName === 'ask';

describe('a session Durable Object restarted mid-session', () => {
  it('resumes from its journal on the next request, without running journaled server tools again', async () => {
    const res = await postJson(`${w.url}/execute`, { code: CODE });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-session-id')!;
    const seen = await eventReader(res).readUntil(isAsk);
    const call = seen.at(-1)!;
    if (call.type !== 'tool_call') throw new Error('no client call');
    const stdout = seen.find((e) => e.type === 'stdout');
    if (stdout?.type !== 'stdout') throw new Error('no stdout');
    const logged = JSON.parse(stdout.payload.chunk) as { t0: number; r0: number; runs: number };
    expect(logged.runs).toBe(1);

    await w.restart();

    // The tool result reaches the restarted object, which runs the code again from its journal.
    const posted = await postJson(`${w.url}/sessions/${id}/tool-result`, { callId: call.payload.callId, result: 'forty-two' });
    expect(posted.status).toBe(200);
    const log = await readEvents(await fetch(`${w.url}/sessions/${id}/events`));
    const final = finalOf(log);
    expect(final).toMatchObject({
      ok: true,
      result: { t0: logged.t0, r0: logged.r0, t1: true, user: 'Alice', n: 1, answer: 'forty-two', runs: [1, 2] },
    });
    // Every seq once, and the events stored before the restart were not emitted again.
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log.slice(0, seen.length)).toEqual(seen);
    expect(log.filter((e) => e.type === 'tool_call').map((e) => (e.payload as { toolName: string }).toolName)).toEqual([
      'runs:count',
      'users:get',
      'users:list',
      'ask',
      'runs:count',
    ]);
    expect(log.filter((e) => e.type === 'stdout')).toHaveLength(1);
    expect(log.filter((e) => e.type === 'session_init')).toHaveLength(1);
    expect(await (await fetch(`${w.url}/sessions/${id}`)).json()).toMatchObject({ id, status: 'completed' });
  });

  it('resumes from its alarm when no request comes', async () => {
    const res = await postJson(`${w.url}/execute`, {
      code: 'const a = await callTool("runs:count", {}); await new Promise((r) => setTimeout(r, 1500)); const b = await callTool("runs:count", {}); return [a.runs, b.runs]',
    });
    const id = res.headers.get('x-session-id')!;
    const reader = eventReader(res);
    await reader.until('tool_result_applied');
    await w.restart();
    // Only storage is looked at (no request reaches the session object's fetch): the alarm must resume it.
    const deadline = Date.now() + 15_000;
    let keys: string[] = [];
    while (Date.now() < deadline) {
      keys = (await (await fetch(`${w.url}/__test/keys/${id}`)).json()) as string[];
      if (keys.some((k) => k.startsWith(`ev:${id}:`) && Number(k.slice(k.lastIndexOf(':') + 1)) >= 6)) break;
      await sleep(100);
    }
    const log = await readEvents(await fetch(`${w.url}/sessions/${id}/events`));
    expect(finalOf(log)).toMatchObject({ ok: true, result: [1, 2] });
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log.map((e) => e.type)).toEqual(['session_init', 'tool_call', 'tool_result_applied', 'tool_call', 'tool_result_applied', 'final']);
  });
});
