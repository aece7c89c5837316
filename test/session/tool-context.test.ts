import { describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import type { ExecutionContext } from '../../src/tools/types.js';
import { collect } from '../helpers/broker.js';

describe("a server tool's execution context", () => {
  it('carries the call, lets the handler take progress out of it, serializes without the session, and fires signal on cancel', async () => {
    const tools = new ToolRegistry();
    let seen: ExecutionContext | undefined;
    let signalFired: Promise<void> | undefined;
    tools.register({
      name: 'report',
      description: 'reports progress',
      parameters: {},
      handler: async (_args, ctx) => {
        const { progress, callId, sessionId } = ctx!;
        progress({ message: 'half', progress: 1, total: 2 });
        return { callId, sessionId, json: JSON.parse(JSON.stringify(ctx)) };
      },
    });
    tools.register({
      name: 'wait',
      description: 'waits for its signal',
      parameters: {},
      handler: (_args, ctx) => {
        seen = ctx;
        const { signal } = ctx!;
        signalFired = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        return new Promise(() => {});
      },
    });
    const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false, tools });
    try {
      const events = await collect(broker.execute('return await callTool("report", {})', { context: { tenant: 'a' } }));
      const final = events.at(-1)!;
      if (final.type !== 'final' || !final.payload.ok) throw new Error(JSON.stringify(final));
      const result = final.payload.result as { callId: string; sessionId: string; json: Record<string, unknown> };
      expect(result.callId).toMatch(/^c_/);
      expect(result.sessionId).toMatch(/^s_/);
      expect(result.json).toMatchObject({ sessionId: result.sessionId, callId: result.callId, toolName: 'report', context: { tenant: 'a' } });
      expect(Object.keys(result.json)).not.toContain('owner');
      expect(events.some((e) => e.type === 'tool_progress' && e.payload.message === 'half')).toBe(true);

      const it = broker.execute('await callTool("wait", {}); return 1')[Symbol.asyncIterator]();
      let id = '';
      for (;;) {
        const { value } = await it.next();
        id = value.sessionId;
        if (value.type === 'tool_call') break;
      }
      expect(seen?.signal.aborted).toBe(false);
      await broker.cancel(id);
      await signalFired;
      expect(seen?.signal.aborted).toBe(true);
    } finally {
      await broker.close();
    }
  });
});
