import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolRegistry } from '../../src/tools/registry.js';
import { eventReader, execute, finalOf, postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';

let server: TestServer;

beforeAll(async () => {
  const tools = new ToolRegistry();
  tools.register({ name: 'noop', description: 'Does nothing', parameters: {}, handler: async () => 'ok' });
  server = await startBroker({ tools, limits: { heartbeatIntervalMs: 60_000 } });
});
afterAll(() => server.close());

/** Starts a session that waits on a client tool; returns its id, the waiting call and the live reader. */
async function waitingSession(code = 'const r = await callTool("client:ask", { q: 1 }); return r') {
  const res = await postJson(`${server.url}/execute`, { code });
  const id = res.headers.get('x-session-id')!;
  const reader = eventReader(res);
  for (;;) {
    const call = await reader.until('tool_call');
    if (call.type === 'tool_call' && call.payload.handler === 'client') return { id, reader, callId: call.payload.callId };
  }
}

describe('GET /sessions/:id', () => {
  it('answers the reference shape while running and after completion', async () => {
    const { id, reader, callId } = await waitingSession();
    const running = await (await fetch(`${server.url}/sessions/${id}`)).json();
    expect(running).toMatchObject({ id, status: 'running' });
    expect(running.expiresAt - running.createdAt).toBe(300_000);
    await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 5 });
    expect(finalOf(await reader.rest()).result).toBe(5);
    const done = await (await fetch(`${server.url}/sessions/${id}`)).json();
    expect(done).toMatchObject({ id, status: 'completed' });
  });

  it('reports status error for a failed session', async () => {
    const res = await postJson(`${server.url}/execute`, { code: 'throw new Error("x")' });
    const id = res.headers.get('x-session-id')!;
    await readEvents(res);
    expect(await (await fetch(`${server.url}/sessions/${id}`)).json()).toMatchObject({ status: 'error', errorCode: 'RUNTIME_ERROR' });
  });

  it('answers 404 for unknown and malformed ids', async () => {
    for (const id of ['s_doesnotexist', 'nope', '%00', 'c_123']) {
      const res = await fetch(`${server.url}/sessions/${id}`);
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe('NOT_FOUND');
    }
  });
});

describe('POST /sessions/:id/tool-result', () => {
  it('applies an error result with its code', async () => {
    const { id, reader, callId } = await waitingSession('try { await callTool("client:x", {}) } catch (e) { return [e.code, e.message] }');
    const res = await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, error: { message: 'denied by user', code: 'USER_DENIED' } });
    expect(res.status).toBe(200);
    const events = await reader.rest();
    expect(events.find((e) => e.type === 'tool_result_applied')?.payload).toMatchObject({ callId, ok: false });
    expect(finalOf(events).result).toEqual(['USER_DENIED', 'denied by user']);
  });

  it('uses TOOL_ERROR when the client gives no code', async () => {
    const { id, reader, callId } = await waitingSession('try { await callTool("client:x", {}) } catch (e) { return e.code }');
    await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, error: { message: 'nope' } });
    expect(finalOf(await reader.rest()).result).toBe('TOOL_ERROR');
  });

  it('answers 409 for a call already resolved, 404 for an unknown call, and 409 once the session ended', async () => {
    const { id, reader, callId } = await waitingSession('const a = await callTool("client:a", {}); const b = await callTool("client:b", {}); return a + b');
    expect((await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 1 })).status).toBe(200);
    const again = await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 2 });
    expect(again.status).toBe(409);
    expect((await again.json()).error.code).toBe('CONFLICT');
    const unknown = await postJson(`${server.url}/sessions/${id}/tool-result`, { callId: 'c_unknown', result: 1 });
    expect(unknown.status).toBe(404);
    const second = await reader.until('tool_call');
    if (second.type !== 'tool_call') throw new Error('no second call');
    await postJson(`${server.url}/sessions/${id}/tool-result`, { callId: second.payload.callId, result: 2 });
    expect(finalOf(await reader.rest()).result).toBe(3);
    const late = await postJson(`${server.url}/sessions/${id}/tool-result`, { callId: 'c_whatever', result: 1 });
    expect(late.status).toBe(409);
  });

  it('answers 409 for a server-side call', async () => {
    const { id, reader, callId: clientCall } = await waitingSession('await callTool("noop", {}); return await callTool("client:b", {})');
    const events = await (await fetch(`${server.url}/sessions/${id}/events`)).body!.getReader().read();
    const text = new TextDecoder().decode(events.value);
    const serverCall = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((e) => e.type === 'tool_call' && e.payload.handler === 'server');
    const res = await postJson(`${server.url}/sessions/${id}/tool-result`, { callId: serverCall.payload.callId, result: 1 });
    expect(res.status).toBe(409);
    await postJson(`${server.url}/sessions/${id}/tool-result`, { callId: clientCall, result: 'fine' });
    expect(finalOf(await reader.rest()).result).toBe('fine');
  });

  it('validates the body: exactly one of result and error', async () => {
    const { id, reader, callId } = await waitingSession();
    for (const body of [{ callId }, { callId, result: 1, error: { message: 'x' } }, { result: 1 }, { callId, error: { code: 'X' } }]) {
      const res = await postJson(`${server.url}/sessions/${id}/tool-result`, body);
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe('VALIDATION_ERROR');
    }
    await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: null });
    expect(finalOf(await reader.rest()).result).toBe(null);
  });
});

describe('replay', () => {
  it('replays after a seq (query or Last-Event-ID) and follows live events to final', async () => {
    const { id, reader, callId } = await waitingSession('console.log("one"); const r = await callTool("client:ask", {}); console.log("two"); return r');
    reader.close();
    const after1 = eventReader(await fetch(`${server.url}/sessions/${id}/events?after=1`));
    const first = await after1.next();
    expect(first.seq).toBe(2);
    expect(first.type).toBe('stdout');
    expect((await after1.next()).type).toBe('tool_call');
    await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 'r' });
    const rest = await after1.rest();
    expect(rest.map((e) => e.type)).toEqual(['tool_result_applied', 'stdout', 'final']);
    expect(rest.map((e) => e.seq)).toEqual([4, 5, 6]);

    const byHeader = await readEvents(await fetch(`${server.url}/sessions/${id}/events`, { headers: { 'Last-Event-ID': '4' } }));
    expect(byHeader.map((e) => e.seq)).toEqual([5, 6]);
    const upstream = await readEvents(await fetch(`${server.url}/sessions/${id}/stream?fromSeq=5`));
    expect(upstream.map((e) => e.seq)).toEqual([5, 6]);
    const upstreamFrom = await readEvents(await fetch(`${server.url}/sessions/${id}/stream?from=6`));
    expect(upstreamFrom.map((e) => e.seq)).toEqual([6]);
    const filtered = await readEvents(await fetch(`${server.url}/sessions/${id}/events?types=stdout`));
    expect(filtered.map((e) => e.type)).toEqual(['stdout', 'stdout', 'final']);
  });

  it('rejects a bad seq with 400', async () => {
    const { id, reader, callId } = await waitingSession();
    expect((await fetch(`${server.url}/sessions/${id}/events?after=-1`)).status).toBe(400);
    expect((await fetch(`${server.url}/sessions/${id}/events?after=abc`)).status).toBe(400);
    await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 1 });
    await reader.rest();
  });
});

describe('cancel', () => {
  it('DELETE /sessions/:id ends the session with CANCELLED', async () => {
    const { id, reader } = await waitingSession();
    const res = await fetch(`${server.url}/sessions/${id}`, { method: 'DELETE' });
    expect(await res.json()).toEqual({ success: true });
    const final = finalOf(await reader.rest());
    expect(final.error?.code).toBe('CANCELLED');
    expect((await (await fetch(`${server.url}/sessions/${id}`)).json()).status).toBe('error');
  });

  it('POST /sessions/:id/cancel does the same, and cancelling a finished session is harmless', async () => {
    const { id, reader } = await waitingSession();
    expect((await fetch(`${server.url}/sessions/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    expect(finalOf(await reader.rest()).error?.code).toBe('CANCELLED');
    expect((await fetch(`${server.url}/sessions/${id}/cancel`, { method: 'POST' })).status).toBe(200);
  });

  it('reaches a spinning sandbox', async () => {
    const res = await postJson(`${server.url}/execute`, { code: 'while (true) {}' });
    const id = res.headers.get('x-session-id')!;
    const reader = eventReader(res);
    await reader.until('session_init');
    await new Promise((r) => setTimeout(r, 100));
    await fetch(`${server.url}/sessions/${id}`, { method: 'DELETE' });
    expect(finalOf(await reader.rest()).error?.code).toBe('CANCELLED');
  });
});

describe('upstream-compatible routes', () => {
  it('POST /sessions creates a session with the given id and config, and GET /sessions lists it', async () => {
    const id = `s_upstream${Date.now()}`;
    const res = await postJson(`${server.url}/sessions`, { code: 'return 7', sessionId: id, config: { maxExecutionMs: 5000, maxToolCalls: 3 } });
    expect(res.headers.get('x-session-id')).toBe(id);
    const events = await readEvents(res);
    const init = events[0]!;
    if (init.type !== 'session_init') throw new Error('no init');
    expect(init.payload.limits).toMatchObject({ timeoutMs: 5000, maxToolCalls: 3 });
    expect(finalOf(events).result).toBe(7);
    const dup = await postJson(`${server.url}/sessions`, { code: 'return 1', sessionId: id });
    expect(dup.status).toBe(409);
    const list = await (await fetch(`${server.url}/sessions`)).json();
    expect(list.sessions.map((s: { id: string }) => s.id)).toContain(id);
  });
});

describe('disconnect grace', () => {
  it('keeps a session whose client came back within disconnectGraceMs', async () => {
    const local = await startBroker({ limits: { disconnectGraceMs: 150, heartbeatIntervalMs: 50 } });
    try {
      const kept = await postJson(`${local.url}/execute`, { code: 'return await callTool("client:wait", {})' });
      const keptId = kept.headers.get('x-session-id')!;
      const keptReader = eventReader(kept);
      const call = await keptReader.until('tool_call');
      if (call.type !== 'tool_call') throw new Error('no call');
      await keptReader.close();
      await kept.body?.cancel().catch(() => {});
      const resumed = eventReader(await fetch(`${local.url}/sessions/${keptId}/events?after=${call.seq}`));
      // Longer than the grace: the resumed reader keeps the session alive.
      await new Promise((r) => setTimeout(r, 400));
      await postJson(`${local.url}/sessions/${keptId}/tool-result`, { callId: call.payload.callId, result: 'still here' });
      expect(finalOf(await resumed.rest()).result).toBe('still here');
    } finally {
      await local.close();
    }
  });

  it('a stream closed by the client ends the session with CANCELLED when nobody comes back', async () => {
    const local = await startBroker({ limits: { disconnectGraceMs: 100, heartbeatIntervalMs: 30 } });
    try {
      const res = await postJson(`${local.url}/execute`, { code: 'return await callTool("client:wait", {})' });
      const id = res.headers.get('x-session-id')!;
      const reader = eventReader(res);
      await reader.until('tool_call');
      await reader.close();
      await res.body?.cancel().catch(() => {});
      let status = 'running';
      for (let i = 0; i < 100 && status === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await (await fetch(`${local.url}/sessions/${id}`)).json()).status;
      }
      expect(status).toBe('error');
      const events = await readEvents(await fetch(`${local.url}/sessions/${id}/events`));
      expect(finalOf(events).error?.code).toBe('CANCELLED');
    } finally {
      await local.close();
    }
  });
});

describe('heartbeats', () => {
  it('are emitted while a session waits', async () => {
    const local = await startBroker({ limits: { heartbeatIntervalMs: 20 } });
    try {
      const res = await postJson(`${local.url}/execute`, { code: 'return await callTool("client:wait", {})' });
      const id = res.headers.get('x-session-id')!;
      const reader = eventReader(res);
      const call = await reader.until('tool_call');
      const beat = await reader.until('heartbeat');
      if (beat.type !== 'heartbeat' || call.type !== 'tool_call') throw new Error('wrong events');
      expect(new Date(beat.payload.ts).toISOString()).toBe(beat.payload.ts);
      await postJson(`${local.url}/sessions/${id}/tool-result`, { callId: call.payload.callId, result: 1 });
      const rest = await reader.rest();
      const seqs = rest.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(finalOf(rest).result).toBe(1);
    } finally {
      await local.close();
    }
  });
});

describe('GET /health', () => {
  it('answers the reference shape, counts sessions and returns active to 0', async () => {
    const local = await startBroker();
    try {
      await execute(local.url, { code: 'return 1' });
      await execute(local.url, { code: 'return 2' });
      const health = await (await fetch(`${local.url}/health`)).json();
      expect(health.status).toBe('ok');
      expect(typeof health.uptime).toBe('number');
      expect(health.sessions).toEqual({ active: 0, total: 2 });
      expect(health.pool.kind).toBe('worker-pool');
    } finally {
      await local.close();
    }
  });
});
