import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveClient, type ApprovalRequest, type StreamEvent } from '../../src/client/index.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { startBroker, type TestServer } from '../helpers/broker.js';

// The client SDK answers approval_required events with `onApproval` while it follows a stream.

let server: TestServer;
let client: EnclaveClient;
const runs: string[] = [];

beforeAll(async () => {
  const tools = new ToolRegistry();
  tools.register({
    name: 'email:send',
    description: 'Sends an email; external addresses need approval',
    parameters: { to: { type: 'string', description: 'recipient', required: true } },
    needsApproval: (args) => !String(args.to).endsWith('@example.com'),
    handler: async (args) => {
      runs.push(String(args.to));
      return `sent to ${args.to}`;
    },
  });
  server = await startBroker({ tools, limits: { heartbeatIntervalMs: 60_000 } });
  client = new EnclaveClient({ baseUrl: server.url });
});
afterAll(() => server.close());

const code = `
  const out = [];
  for (const to of context.to) {
    try { out.push(await callTool("email:send", { to })); }
    catch (e) { out.push(e.code + ": " + e.message); }
  }
  return out;`;

describe('onApproval', () => {
  it('approves and rejects as it answers (booleans, { approve, reason }, async), and is asked only when needed', async () => {
    runs.length = 0;
    const asked: Omit<ApprovalRequest, 'signal'>[] = [];
    const result = await client.execute(code, {
      context: { to: ['ann@example.com', 'bob@partner.org', 'eve@evil.test', 'cy@partner.org'] },
      onApproval: async ({ signal, ...request }) => {
        expect(signal.aborted).toBe(false);
        asked.push(request);
        await new Promise((r) => setTimeout(r, 5));
        if (request.args.to === 'eve@evil.test') return { approve: false, reason: 'not a partner' };
        if (request.args.to === 'cy@partner.org') return false;
        return true;
      },
    });
    expect(result).toEqual([
      'sent to ann@example.com',
      'sent to bob@partner.org',
      'TOOL_APPROVAL_DENIED: not a partner',
      'TOOL_APPROVAL_DENIED: the call to "email:send" was not approved',
    ]);
    expect(runs).toEqual(['ann@example.com', 'bob@partner.org']);
    expect(asked.map((a) => a.args.to)).toEqual(['bob@partner.org', 'eve@evil.test', 'cy@partner.org']);
    expect(asked[0]).toMatchObject({ toolName: 'email:send', sessionId: expect.stringMatching(/^s_/), callId: expect.stringMatching(/^c_/) });
  });

  it('a throwing onApproval rejects the call with its message', async () => {
    const result = await client.execute(code, {
      context: { to: ['x@partner.org'] },
      onApproval: () => {
        throw new Error('approver offline');
      },
    });
    expect(result).toEqual(['TOOL_APPROVAL_DENIED: approver offline']);
  });

  it('still gets approval_required when the caller filters it out, and yields only what the filter keeps', async () => {
    const seen: StreamEvent[] = [];
    const result = await client.execute(code, {
      context: { to: ['y@partner.org'] },
      filter: { types: ['stdout'] },
      onApproval: () => true,
      onEvent: (e) => seen.push(e),
    });
    expect(result).toEqual(['sent to y@partner.org']);
    expect(seen.map((e) => e.type)).toEqual(['final']);
  });

  it('undefined leaves the call waiting: client.approve() and client.reject() answer it', async () => {
    const stream = client.stream(code, { context: { to: ['z@partner.org', 'w@partner.org'] }, onApproval: () => undefined });
    let final: StreamEvent | undefined;
    for await (const e of stream) {
      if (e.type === 'approval_required') {
        if (e.payload.args.to === 'z@partner.org') await client.approve(e.sessionId, e.payload.callId);
        else await client.reject(e.sessionId, e.payload.callId, 'later');
      }
      if (e.type === 'final') final = e;
    }
    expect(final?.payload).toMatchObject({ ok: true, result: ['sent to z@partner.org', 'TOOL_APPROVAL_DENIED: later'] });
    // The session ended: CONFLICT.
    await expect(client.approve(stream.sessionId!, 'c_x')).rejects.toMatchObject({ code: 'CONFLICT' });
  });
});
