import { afterAll, describe, expect, it } from 'vitest';
import { broker as mountedBroker, app } from '../../examples/mounting.js';
import { main as clientMain } from '../../examples/client.js';
import { exampleTools } from '../../examples/users-tools.js';
import { readEvents, startBroker } from '../helpers/broker.js';

afterAll(() => mountedBroker.close());

describe('examples/mounting.ts', () => {
  it('serves the app and the broker under /enclave', async () => {
    expect(await (await app.request('/')).text()).toBe('my app');
    const res = await app.request('/enclave/execute', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: "return await callTool('users:get', { id: '2' })" }),
    });
    expect(res.status).toBe(200);
    const events = await readEvents(res);
    const init = events[0]!;
    expect(init.type === 'session_init' && init.payload.toolResultUrl).toMatch(/^\/enclave\/sessions\/s_.+\/tool-result$/);
    expect(events.at(-1)).toMatchObject({ type: 'final', payload: { ok: true, result: { id: '2', name: 'Bob' } } });
    expect((await app.request('/enclave/health')).status).toBe(200);
    expect((await (await app.request('/enclave/openapi.json')).json()).servers).toEqual([{ url: '/enclave' }]);
  });
});

describe('examples/client.ts', () => {
  it('runs against a broker with the example tools and answers its client tool', async () => {
    const server = await startBroker({ tools: exampleTools() });
    try {
      expect(await clientMain(server.url)).toEqual({
        users: [
          { id: '1', name: 'Alice' },
          { id: '2', name: 'Bob' },
        ],
        answer: 'answer to Pick one',
      });
    } finally {
      await server.close();
    }
  });
});
