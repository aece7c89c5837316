import { describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { listenAbort } from '../../src/tools/abort.js';
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

  it('listenAbort tells of a cancel without the signal, and never of a call that settled', async () => {
    const tools = new ToolRegistry();
    const heard: string[] = [];
    let waiting: ExecutionContext | undefined;
    let cancelled: Promise<void> | undefined;
    tools.register({
      name: 'quick',
      description: 'answers at once',
      parameters: {},
      handler: async (_args, ctx) => {
        listenAbort(ctx!, () => heard.push(`quick ${ctx!.callId}`));
        return 1;
      },
    });
    tools.register({
      name: 'wait',
      description: 'waits for a cancel',
      parameters: {},
      handler: (_args, ctx) => {
        waiting = ctx;
        cancelled = new Promise<void>((resolve) => listenAbort(ctx!, resolve));
        return new Promise(() => {});
      },
    });
    const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false, tools });
    try {
      const events = await collect(broker.execute('await callTool("quick", {}); return await callTool("quick", {})'));
      expect(events.at(-1)!.payload).toMatchObject({ ok: true, result: 1 });
      const it = broker.execute('await callTool("wait", {}); return 1')[Symbol.asyncIterator]();
      let id = '';
      for (;;) {
        const { value } = await it.next();
        id = value.sessionId;
        if (value.type === 'tool_call') break;
      }
      await broker.cancel(id);
      await cancelled;
      // The session's calls are over: a listener added now runs at once; the signal agrees.
      let late = false;
      listenAbort(waiting!, () => (late = true));
      expect(late).toBe(true);
      expect(waiting!.signal.aborted).toBe(true);
      expect(heard).toEqual([]);
    } finally {
      await broker.close();
    }
  });

  it('listenAbort falls back to the signal of a context the broker did not make', () => {
    const controller = new AbortController();
    const context = { sessionId: 's', callId: 'c', toolName: 't', signal: controller.signal, context: {}, progress() {} };
    let fired = 0;
    listenAbort(context, () => fired++);
    expect(fired).toBe(0);
    controller.abort();
    controller.abort();
    expect(fired).toBe(1);
    listenAbort(context, () => fired++);
    expect(fired).toBe(2);
  });
});
