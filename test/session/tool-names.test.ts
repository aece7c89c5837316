import { afterEach, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import type { BrokerOptions } from '../../src/broker-options.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { collect } from '../helpers/broker.js';

// A tool name reaches the event, the permission check and the lookup as the guest wrote it.
// The engine hands strings over NUL-terminated: 'users:get\u0000fail' used to call users:get.
const brokers: EnclaveBroker[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

function setup(mode: 'inline' | 'pool', options: BrokerOptions = {}) {
  const ran: string[] = [];
  const tools = new ToolRegistry();
  for (const name of ['users:get', 'fail']) {
    tools.register({ name, description: name, parameters: {}, handler: async () => (ran.push(name), name) });
  }
  const broker = new EnclaveBroker({ logger: silentLogger, tools, ...(mode === 'inline' ? { runtimePool: false as const } : {}), ...options });
  brokers.push(broker);
  return { broker, ran };
}

function toolCalls(events: StreamEvent[]) {
  return events.flatMap((e) => (e.type === 'tool_call' ? [e.payload] : []));
}

const NAMES = ['users:get\u0000fail', 'fail\u0000', '\u0000users:get', 'users:get\u0000', 'us\u0000ers:get', 'users:get\ud800', 'usérs\u0000:get'];

for (const mode of ['inline', 'pool'] as const) {
  describe(`tool names with NUL and lone surrogates (${mode})`, () => {
    it('refuses them as TOOL_NOT_FOUND, naming them whole, and runs no tool', async () => {
      const { broker, ran } = setup(mode, { clientTools: false });
      const code = `const out = [];
        for (const name of ${JSON.stringify(NAMES)}) {
          try { out.push(await callTool(name, {})) } catch (e) { out.push(e.code + ' ' + e.message) }
        }
        return out`;
      const events = await collect(broker.execute(code));
      const final = events.at(-1)!;
      expect(final.type === 'final' && final.payload.ok).toBe(true);
      if (final.type !== 'final') return;
      expect(final.payload.result).toEqual(NAMES.map((n) => `TOOL_NOT_FOUND no tool named ${JSON.stringify(n)}`));
      expect(toolCalls(events).map((c) => c.toolName)).toEqual(NAMES);
      expect(ran).toEqual([]);
    });

    it('sends them to a client tool byte for byte', async () => {
      const { broker, ran } = setup(mode);
      const events: StreamEvent[] = [];
      for await (const event of broker.execute("return await callTool('users:get\\u0000fail', { id: 1 })")) {
        events.push(event);
        if (event.type === 'tool_call') await broker.submitToolResult(event.sessionId, event.payload.callId, event.payload.toolName);
      }
      expect(toolCalls(events)).toMatchObject([{ toolName: 'users:get\u0000fail', handler: 'client', args: { id: 1 } }]);
      const final = events.at(-1)!;
      expect(final.type === 'final' && final.payload.result).toBe('users:get\u0000fail');
      expect(ran).toEqual([]);
    });

    it('checks permissions on the whole name, and hands a toolHandler the whole name', async () => {
      const served: string[] = [];
      const { broker, ran } = setup(mode, { toolHandler: async (_args, ctx) => (served.push(ctx!.toolName), ctx!.toolName) });
      const identity = { permissions: ['users:get', 'other'] };
      const code = `const out = [];
        for (const n of ['users:get\\u0000fail', 'other\\u0000', 'other']) {
          try { out.push(await callTool(n, {})) } catch (e) { out.push(e.code) }
        }
        return out`;
      const events = await collect(broker.execute(code, { identity }));
      const final = events.at(-1)!;
      expect(final.type === 'final' && final.payload.result).toEqual(['TOOL_PERMISSION_DENIED', 'TOOL_PERMISSION_DENIED', 'other']);
      expect(toolCalls(events).map((c) => c.toolName)).toEqual(['users:get\u0000fail', 'other\u0000', 'other']);
      expect(served).toEqual(['other']);
      expect(ran).toEqual([]);
    });
  });
}
