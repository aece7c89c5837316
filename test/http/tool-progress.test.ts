import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionContext } from '../../src/tools/types.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { execute, finalOf, startBroker, type TestServer } from '../helpers/broker.js';

let server: TestServer;
let late: ExecutionContext | undefined;

beforeAll(async () => {
  const tools = new ToolRegistry();
  tools.register({
    name: 'work',
    description: 'Reports progress ten times at once, then answers',
    parameters: {},
    handler: async (_args, ctx) => {
      ctx!.progress({ message: 'start', progress: 0, total: 10 });
      for (let i = 1; i <= 10; i++) ctx!.progress({ progress: i, total: 10, message: `step ${i}` });
      late = ctx;
      return 'done';
    },
  });
  server = await startBroker({ tools, limits: { heartbeatIntervalMs: 60_000 } });
});

afterAll(() => server?.close());

describe('tool progress', () => {
  it('sends the first report at once and the last one kept before the result', async () => {
    const events = await execute(server.url, { code: 'return await callTool("work", {})' });
    expect(finalOf(events)).toMatchObject({ ok: true, result: 'done' });
    const call = events.find((e) => e.type === 'tool_call')!;
    if (call.type !== 'tool_call') throw new Error('no tool_call');
    const { callId } = call.payload;
    const progress = events.filter((e) => e.type === 'tool_progress');
    expect(progress.map((e) => e.payload)).toEqual([
      { callId, message: 'start', progress: 0, total: 10 },
      { callId, message: 'step 10', progress: 10, total: 10 },
    ]);
    const types = events.map((e) => e.type);
    expect(types.indexOf('tool_call')).toBeLessThan(types.indexOf('tool_progress'));
    expect(types.lastIndexOf('tool_progress')).toBeLessThan(types.indexOf('tool_result_applied'));
    // After the call settled, reports are ignored.
    late!.progress({ message: 'too late' });
  });

  it('can be filtered out like any other event', async () => {
    const events = await execute(server.url, { code: 'return await callTool("work", {})', filter: { blockedTypes: ['tool_progress'] } });
    expect(events.some((e) => e.type === 'tool_progress')).toBe(false);
    expect(finalOf(events).ok).toBe(true);
  });
});
