import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventReader, execute, finalOf, postJson } from '../helpers/broker.js';
import { startWorkerd, type Workerd } from '../helpers/workerd.js';

// Streaming, tool results, cancel, replay, disconnect and limits on workerd are covered by the
// conformance suite (test/conformance/workerd.test.ts); this file checks what is Workers-only.
let w: Workerd;
beforeAll(async () => {
  w = await startWorkerd({ SESSION_TIMEOUT_MS: '1500', OPENAPI_PETS: '1' });
});
afterAll(() => w?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('session Durable Objects', () => {
  it('expire with SESSION_EXPIRED, and the alarm deletes their storage', async () => {
    const res = await postJson(`${w.url}/execute`, { code: 'await callTool("never", {})' });
    const id = res.headers.get('x-session-id')!;
    const reader = eventReader(res);
    await reader.until('tool_call');
    const keys = (await (await fetch(`${w.url}/__test/keys/${id}`)).json()) as string[];
    expect(keys).toContain(`rec:${id}`);
    const rest = await reader.rest();
    expect(finalOf(rest).error?.code).toBe('SESSION_EXPIRED');
    await until(async () => {
      const left = (await (await fetch(`${w.url}/__test/keys/${id}`)).json()) as string[];
      return left.length === 0 ? true : undefined;
    });
    expect((await fetch(`${w.url}/sessions/${id}`)).status).toBe(404);
    expect((await fetch(`${w.url}/sessions/${id}/events`)).status).toBe(404);
  });

  it('delete a finished session at expiresAt by the alarm alone', async () => {
    const res = await postJson(`${w.url}/execute`, { code: 'return 1' });
    const id = res.headers.get('x-session-id')!;
    expect(
      finalOf(
        (await res.text())
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      ).result,
    ).toBe(1);
    // Only the storage is listed (no store read that could delete lazily): the alarm must do it.
    expect(((await (await fetch(`${w.url}/__test/keys/${id}`)).json()) as string[]).length).toBeGreaterThan(0);
    await until(async () => {
      const left = (await (await fetch(`${w.url}/__test/keys/${id}`)).json()) as string[];
      return left.length === 0 ? true : undefined;
    });
  });

  it('count active and total sessions in the counters object for /health', async () => {
    const before = (await (await fetch(`${w.url}/health`)).json()) as { sessions: { active: number; total: number } };
    const res = await postJson(`${w.url}/execute`, { code: 'return await callTool("ask", {})' });
    const id = res.headers.get('x-session-id')!;
    const reader = eventReader(res);
    const call = await reader.until('tool_call');
    const during = (await (await fetch(`${w.url}/health`)).json()) as { sessions: { active: number; total: number } };
    expect(during.sessions).toEqual({ active: before.sessions.active + 1, total: before.sessions.total + 1 });
    await postJson(`${w.url}/sessions/${id}/tool-result`, { callId: (call.payload as { callId: string }).callId, result: 1 });
    expect(finalOf(await reader.rest()).result).toBe(1);
    await until(async () => {
      const after = (await (await fetch(`${w.url}/health`)).json()) as { sessions: { active: number } };
      return after.sessions.active === before.sessions.active ? true : undefined;
    });
    // A request that creates no session gives its slot back.
    expect((await postJson(`${w.url}/execute`, { code: 1 })).status).toBe(400);
    expect(finalOf(await execute(w.url, { code: 'return 1' })).ok).toBe(true);
  });

  it('ignores internal headers sent by a client', async () => {
    const res = await postJson(`${w.url}/execute`, { code: 'return 1' }, { 'x-enclave-session-id': 's_chosenbyclient1', 'x-enclave-base': '/evil' });
    expect(res.headers.get('x-session-id')).not.toBe('s_chosenbyclient1');
    const events = await (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events[0].payload.replayUrl.startsWith('/sessions/')).toBe(true);
  });

  it('lists OpenAPI actions at the Worker and refreshes them from a cron trigger', async () => {
    const catalog = (await (await fetch(`${w.url}/code/actions`)).json()) as { actions: { name: string }[]; version: string };
    expect(catalog.actions.map((a) => a.name)).toEqual(['pets_listPets']);
    const worker = (await w.mf.getWorker()) as unknown as { scheduled(o: { cron: string }): Promise<{ outcome: string }> };
    const result = await worker.scheduled({ cron: '*/5 * * * *' });
    expect(result.outcome).toBe('ok');
    const after = (await (await fetch(`${w.url}/code/actions`)).json()) as { version: string };
    expect(after.version).toBe(catalog.version);
  });
});
