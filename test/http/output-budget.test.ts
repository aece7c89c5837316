import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolRegistry } from '../../src/tools/registry.js';
import { execute, finalOf, postJson, startBroker, type TestServer } from '../helpers/broker.js';

let server: TestServer;
let limited: TestServer;
let echoRuns = 0;

beforeAll(async () => {
  const tools = new ToolRegistry();
  tools.register({
    name: 'echo',
    description: 'Returns its arguments',
    parameters: {},
    handler: async (args) => {
      echoRuns++;
      return args;
    },
  });
  tools.register({ name: 'big', description: 'Returns 2000 bytes', parameters: {}, handler: async () => 'x'.repeat(1998) });
  server = await startBroker({ tools, limits: { heartbeatIntervalMs: 60_000 } });
  limited = await startBroker({ tools, limits: { heartbeatIntervalMs: 60_000, outputBudgetBytes: 1000 } });
});

afterAll(async () => {
  await server?.close();
  await limited?.close();
});

const ended = (events: Awaited<ReturnType<typeof execute>>) => finalOf(events).error?.code;

describe('output budget', () => {
  it('has no budget unless one is set', async () => {
    const events = await execute(server.url, { code: 'console.log("y".repeat(5000)); return "z".repeat(5000)' });
    expect(finalOf(events).ok).toBe(true);
  });

  it('counts stdout, logs and the result together', async () => {
    const limits = { outputBudgetBytes: 100 };
    // 60 bytes of stdout + 30 of log + a 12-byte result: 102 > 100.
    const over = await execute(server.url, { code: 'console.log("a".repeat(59)); console.warn("b".repeat(30)); return "c".repeat(10)', limits });
    expect(ended(over)).toBe('OUTPUT_BUDGET_EXCEEDED');
    const error = over.find((e) => e.type === 'error');
    expect(error?.payload).toMatchObject({ code: 'OUTPUT_BUDGET_EXCEEDED', recoverable: false });
    // The same with a result 2 bytes shorter fits exactly.
    const fits = await execute(server.url, { code: 'console.log("a".repeat(59)); console.warn("b".repeat(30)); return "c".repeat(8)', limits });
    expect(finalOf(fits)).toMatchObject({ ok: true, result: 'cccccccc' });
  });

  it('stops at output that would cross the budget, without emitting it', async () => {
    const events = await execute(server.url, {
      code: 'console.warn("a".repeat(40)); console.warn("b".repeat(80)); console.log("c"); return 1',
      limits: { outputBudgetBytes: 100 },
    });
    expect(ended(events)).toBe('OUTPUT_BUDGET_EXCEEDED');
    const logs = events.flatMap((e) => (e.type === 'log' ? [e.payload.message] : []));
    expect(logs).toEqual(['a'.repeat(40)]);
    expect(events.some((e) => e.type === 'stdout')).toBe(false);
  });

  it('counts tool arguments before the tool runs', async () => {
    const before = echoRuns;
    const events = await execute(server.url, { code: 'return await callTool("echo", { s: "q".repeat(200) })', limits: { outputBudgetBytes: 150 } });
    expect(ended(events)).toBe('OUTPUT_BUDGET_EXCEEDED');
    expect(echoRuns).toBe(before);
    expect(events.some((e) => e.type === 'tool_call')).toBe(false);
  });

  it('counts tool results when they arrive', async () => {
    const events = await execute(server.url, {
      code: 'const r = await callTool("big", {}); console.log("after"); return r.length',
      limits: { outputBudgetBytes: 1500 },
    });
    expect(ended(events)).toBe('OUTPUT_BUDGET_EXCEEDED');
    expect(events.some((e) => e.type === 'tool_result_applied')).toBe(false);
    expect(events.some((e) => e.type === 'stdout')).toBe(false);
  });

  it('uses the broker budget, which a request may lower but not raise', async () => {
    const raised = await execute(limited.url, { code: 'return await callTool("big", {})', limits: { outputBudgetBytes: 100_000 } });
    expect(ended(raised)).toBe('OUTPUT_BUDGET_EXCEEDED');
    const lowered = await execute(limited.url, { code: 'return "d".repeat(50)', limits: { outputBudgetBytes: 40 } });
    expect(ended(lowered)).toBe('OUTPUT_BUDGET_EXCEEDED');
    const fine = await execute(limited.url, { code: 'return "d".repeat(50)' });
    expect(finalOf(fine).ok).toBe(true);
  });

  it('rejects an invalid budget with 400', async () => {
    const res = await postJson(`${server.url}/execute`, { code: 'return 1', limits: { outputBudgetBytes: -1 } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('VALIDATION_ERROR');
  });
});
