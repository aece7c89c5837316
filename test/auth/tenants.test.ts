import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../../src/protocol/errors.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import { collect, eventReader, finalOf, postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';

// Keys name tenants: `a1` and `a2` are two users of tenant A; `b` is tenant B; `u` has no tenant.
const KEYS: Record<string, { userId: string; tenantId?: string }> = {
  a1: { userId: 'alice', tenantId: 'A' },
  a2: { userId: 'anna', tenantId: 'A' },
  b: { userId: 'bob', tenantId: 'B' },
  u: { userId: 'alice' },
  // A user whose id equals tenant B's id, with no tenant of its own.
  ub: { userId: 'B' },
};
const as = (key: string) => ({ 'x-api-key': key });

let server: TestServer;
beforeAll(async () => {
  server = await startBroker({
    authentication: {
      type: 'api-key',
      validate: async (key) => (KEYS[key] ? { valid: true, ...KEYS[key] } : { valid: false }),
    },
    limits: { heartbeatIntervalMs: 60_000 },
  });
});
afterAll(() => server.close());

/** Starts a session (as `key`) that waits for a client tool; returns its id, callId and reader. */
async function waitingSession(key: string) {
  const res = await postJson(`${server.url}/execute`, { code: 'return await callTool("client:ask", {})' }, as(key));
  expect(res.status).toBe(200);
  const reader = eventReader(res);
  const call = (await reader.until('tool_call')) as Extract<StreamEvent, { type: 'tool_call' }>;
  return { id: res.headers.get('x-session-id')!, callId: call.payload.callId, reader };
}

async function expect404(res: Response) {
  expect(res.status).toBe(404);
  const body = await res.json();
  expect(body.error.code).toBe('NOT_FOUND');
}

describe('tenant isolation over HTTP', () => {
  it('hides a running session from other tenants on every route, and shares it within the tenant', async () => {
    const { id, callId, reader } = await waitingSession('a1');
    for (const other of ['b', 'u']) {
      await expect404(await fetch(`${server.url}/sessions/${id}`, { headers: as(other) }));
      await expect404(await fetch(`${server.url}/sessions/${id}/events`, { headers: as(other) }));
      await expect404(await fetch(`${server.url}/sessions/${id}/events?after=1`, { headers: as(other) }));
      await expect404(await fetch(`${server.url}/sessions/${id}/stream?fromSeq=1`, { headers: as(other) }));
      await expect404(await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 'evil' }, as(other)));
      await expect404(await fetch(`${server.url}/sessions/${id}`, { method: 'DELETE', headers: as(other) }));
      await expect404(await fetch(`${server.url}/sessions/${id}/cancel`, { method: 'POST', headers: as(other) }));
      const list = await (await fetch(`${server.url}/sessions`, { headers: as(other) })).json();
      expect(list.sessions.map((s: { id: string }) => s.id)).not.toContain(id);
    }
    // Still running and untouched: another user of the same tenant sees it and answers the call.
    const info = await (await fetch(`${server.url}/sessions/${id}`, { headers: as('a2') })).json();
    expect(info.status).toBe('running');
    const list = await (await fetch(`${server.url}/sessions`, { headers: as('a1') })).json();
    expect(list.sessions.map((s: { id: string }) => s.id)).toContain(id);
    const ok = await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 'mine' }, as('a2'));
    expect(ok.status).toBe(200);
    const final = (await reader.until('final')) as Extract<StreamEvent, { type: 'final' }>;
    expect(final.payload.result).toBe('mine');
    // Finished sessions stay hidden too (replay from the store).
    await expect404(await fetch(`${server.url}/sessions/${id}/events`, { headers: as('b') }));
    const replay = await readEvents(await fetch(`${server.url}/sessions/${id}/events`, { headers: as('a1') }));
    expect(finalOf(replay).result).toBe('mine');
  });

  it('a user whose id is a tenant id sees nothing of that tenant', async () => {
    const { id, callId, reader } = await waitingSession('b');
    await expect404(await fetch(`${server.url}/sessions/${id}`, { headers: as('ub') }));
    await expect404(await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 'evil' }, as('ub')));
    const list = await (await fetch(`${server.url}/sessions`, { headers: as('ub') })).json();
    expect(list.sessions).toEqual([]);
    expect(await server.broker.getSession(id, { userId: 'B' })).toBeNull();
    await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 'ok' }, as('b'));
    expect(((await reader.until('final')) as Extract<StreamEvent, { type: 'final' }>).payload.result).toBe('ok');
  });

  it('lets only the owning tenant cancel, by DELETE and POST /cancel', async () => {
    for (const how of ['DELETE', 'POST'] as const) {
      const { id, reader } = await waitingSession('b');
      const url = how === 'DELETE' ? `${server.url}/sessions/${id}` : `${server.url}/sessions/${id}/cancel`;
      await expect404(await fetch(url, { method: how, headers: as('a1') }));
      expect((await (await fetch(`${server.url}/sessions/${id}`, { headers: as('b') })).json()).status).toBe('running');
      const res = await fetch(url, { method: how, headers: as('b') });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ success: true });
      const final = (await reader.until('final')) as Extract<StreamEvent, { type: 'final' }>;
      expect(final.payload.error?.code).toBe('CANCELLED');
    }
  });

  it('a user without a tenant is its own owner, distinct from the same userId inside a tenant', async () => {
    const { id, callId, reader } = await waitingSession('u');
    await expect404(await fetch(`${server.url}/sessions/${id}`, { headers: as('a1') })); // alice in tenant A
    expect((await fetch(`${server.url}/sessions/${id}`, { headers: as('u') })).status).toBe(200);
    await postJson(`${server.url}/sessions/${id}/tool-result`, { callId, result: 1 }, as('u'));
    await reader.until('final');
  });
});

describe('tenant isolation in the programmatic API', () => {
  const A = { tenantId: 'A', userId: 'alice' };
  const B = { tenantId: 'B', userId: 'bob' };

  it('getSession, submitToolResult and cancel treat other tenants as strangers', async () => {
    const { broker } = server;
    const iterator = broker.execute('return await callTool("client:ask", {})', { identity: A })[Symbol.asyncIterator]();
    let id = '';
    let callId = '';
    for (;;) {
      const { value } = await iterator.next();
      id = value!.sessionId;
      if (value!.type === 'tool_call') {
        callId = value!.payload.callId;
        break;
      }
    }
    expect(await broker.getSession(id, B)).toBeNull();
    expect(await broker.getSession(id)).toBeNull();
    expect((await broker.getSession(id, A))?.status).toBe('running');
    const notFound = (p: Promise<unknown>) => expect(p).rejects.toSatisfy((e) => e instanceof BrokerError && e.code === 'NOT_FOUND');
    await notFound(broker.submitToolResult(id, callId, 'evil', { identity: B }));
    await notFound(broker.submitToolResult(id, callId, 'evil'));
    await notFound(broker.cancel(id, B));
    await notFound(broker.cancel(id));
    // HTTP callers of another tenant cannot see it either.
    await expect404(await fetch(`${server.url}/sessions/${id}`, { headers: as('b') }));
    await broker.submitToolResult(id, callId, 'mine', { identity: A });
    const rest: StreamEvent[] = [];
    for (;;) {
      const r = await iterator.next();
      if (r.done) break;
      rest.push(r.value);
    }
    expect(finalOf(rest).result).toBe('mine');
  });

  it('a session run with an identity is visible over HTTP to that tenant only', async () => {
    const events = await collect(server.broker.execute('return 7', { identity: B }));
    const id = events[0]!.sessionId;
    expect((await fetch(`${server.url}/sessions/${id}`, { headers: as('b') })).status).toBe(200);
    await expect404(await fetch(`${server.url}/sessions/${id}`, { headers: as('a1') }));
    expect(await server.broker.getSession(id, { tenantId: 'B' })).toMatchObject({ id, status: 'completed' });
  });
});
