import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventReader, finalOf, postJson, readEvents } from '../helpers/broker.js';
import { startWorkerd, type Workerd } from '../helpers/workerd.js';

// The session object is built from the broker options like EnclaveBroker is: `durable: false`
// reaches it, so a session whose object restarted is not resumed but ends with SESSION_LOST.
let w: Workerd;
beforeAll(async () => {
  w = await startWorkerd({ DURABLE: '0', RESUME_CHECK_MS: '0' });
});
afterAll(() => w?.close());

describe('the session object takes the broker options', () => {
  it('with durable: false, ends a session whose object restarted with SESSION_LOST', async () => {
    const res = await postJson(`${w.url}/execute`, { code: 'const v = await callTool("ask", {}); return v' });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-session-id')!;
    const call = await eventReader(res).until('tool_call');
    if (call.type !== 'tool_call') throw new Error('no tool call');

    await w.restart();

    const posted = await postJson(`${w.url}/sessions/${id}/tool-result`, { callId: call.payload.callId, result: 1 });
    await posted.body?.cancel();
    const log = await readEvents(await fetch(`${w.url}/sessions/${id}/events`));
    expect(finalOf(log).error?.code).toBe('SESSION_LOST');
    expect(await (await fetch(`${w.url}/sessions/${id}`)).json()).toMatchObject({ id, status: 'error' });
  });
});
