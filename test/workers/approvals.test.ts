import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { eventReader, finalOf, postJson, readEvents } from '../helpers/broker.js';
import { startWorkerd, type Workerd } from '../helpers/workerd.js';

// Approvals on workerd: the Worker sends POST /sessions/:id/approvals to the session's Durable
// Object, and a session object restarted while a call waits for approval resumes from its
// journal without asking again.
let w: Workerd;
beforeAll(async () => {
  w = await startWorkerd({ APPROVALS: '1', RESUME_CHECK_MS: '300' });
});
afterAll(() => w?.close());

type Approval = Extract<StreamEvent, { type: 'approval_required' }>;

async function waiting(base: string, code: string) {
  const res = await postJson(`${base}/execute`, { code });
  expect(res.status).toBe(200);
  const reader = eventReader(res);
  const asked = (await reader.until('approval_required')) as Approval;
  return { id: res.headers.get('x-session-id')!, callId: asked.payload.callId, asked, reader };
}

describe('approvals on workerd', () => {
  for (const prefix of ['', '/enclave']) {
    it(`approve and reject reach the session object (${prefix || 'root'})`, async () => {
      const base = w.url + prefix;
      const code = `
        const a = await callTool("guarded", { v: 1 });
        try { await callTool("guarded", { v: 2 }); } catch (e) { return [a, e.code, e.message]; }`;
      const { id, callId, asked, reader } = await waiting(base, code);
      expect(asked.payload).toEqual({ callId, toolName: 'guarded', args: { v: 1 } });
      expect((await postJson(`${base}/sessions/${id}/approvals`, { callId: 'c_nope', approve: true })).status).toBe(404);
      expect((await postJson(`${base}/sessions/${id}/approvals`, { callId, approve: 'yes' })).status).toBe(400);
      const ok = await postJson(`${base}/sessions/${id}/approvals`, { callId, approve: true });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ success: true });
      expect((await postJson(`${base}/sessions/${id}/approvals`, { callId, approve: true })).status).toBe(409);
      const second = (await reader.until('approval_required')) as Approval;
      expect((await postJson(`${base}/sessions/${id}/approvals`, { callId: second.payload.callId, approve: false, reason: 'no' })).status).toBe(200);
      expect(finalOf(await reader.rest())).toMatchObject({ ok: true, result: [{ v: 1, runs: 1 }, 'TOOL_APPROVAL_DENIED', 'no'] });
      expect((await postJson(`${base}/sessions/s_unknown1/approvals`, { callId, approve: true })).status).toBe(404);
    });
  }

  it('a session object restarted while a call waits for approval resumes and applies the decision, asking once', async () => {
    const code = 'const a = await callTool("guarded", { v: 1 }); const b = await callTool("guarded", { v: 2 }); return [a, b]';
    const { id, callId, reader } = await waiting(w.url, code);
    expect((await postJson(`${w.url}/sessions/${id}/approvals`, { callId, approve: true })).status).toBe(200);
    const second = (await reader.until('approval_required')) as Approval;
    await reader.close();

    await w.restart();

    const posted = await postJson(`${w.url}/sessions/${id}/approvals`, { callId: second.payload.callId, approve: true });
    expect(posted.status).toBe(200);
    const log = await readEvents(await fetch(`${w.url}/sessions/${id}/events`));
    // The first call's handler ran once (its outcome is journaled); the second ran after the restart.
    expect(finalOf(log)).toMatchObject({
      ok: true,
      result: [
        { v: 1, runs: 1 },
        { v: 2, runs: 1 },
      ],
    });
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log.filter((e) => e.type === 'approval_required')).toHaveLength(2);
  });
});
