import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolRegistry } from '../../src/tools/registry.js';
import { execute, finalOf, startBroker, type TestServer } from '../helpers/broker.js';

let server: TestServer;

beforeAll(async () => {
  const tools = new ToolRegistry();
  tools.register({ name: 'users:list', description: 'Lists users', parameters: {}, handler: async () => [] });
  tools.register({
    name: 'slow',
    description: 'Never answers in time',
    parameters: {},
    handler: (_args, ctx) => new Promise((resolve) => ctx!.signal.addEventListener('abort', () => resolve(null))),
  });
  server = await startBroker({ tools });
});
afterAll(() => server.close());

describe('a TIMEOUT says what the session was waiting for', () => {
  it('a misspelled tool name goes to the client; its timeout names the client tool and the call', async () => {
    const events = await execute(server.url, { code: 'return await callTool("user:list", {})', timeout: 300 });
    const call = events.find((e) => e.type === 'tool_call');
    expect(call).toMatchObject({ payload: { toolName: 'user:list', handler: 'client' } });
    const callId = call!.type === 'tool_call' ? call!.payload.callId : '';
    const final = finalOf(events);
    expect(final.error).toMatchObject({ code: 'TIMEOUT' });
    expect(final.error!.message).toMatch(/^execution exceeded \d+ ms while waiting for client tool "user:list" \(c_[^)]+\)$/);
    expect(final.error!.message).toContain(`(${callId})`);
  });

  it('a server tool, and several calls at once', async () => {
    const events = await execute(server.url, { code: 'return await Promise.all([callTool("slow", {}), callTool("ask", {})])', timeout: 300 });
    const final = finalOf(events);
    expect(final.error!.message).toMatch(/^execution exceeded \d+ ms while waiting for tool "slow" \(c_[^)]+\) and 1 more$/);
  });

  it('a timeout with nothing pending says only the limit', async () => {
    const final = finalOf(await execute(server.url, { code: 'for (;;) {}', timeout: 200 }));
    expect(final.error).toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/^execution exceeded \d+ ms$/) });
  });
});
