import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolRegistry } from '../../src/tools/registry.js';
import { eventReader, execute, finalOf, postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';

let server: TestServer;
const seenContexts: unknown[] = [];

beforeAll(async () => {
  const tools = new ToolRegistry();
  tools.register({
    name: 'users:list',
    description: 'List users',
    parameters: { limit: { type: 'number', description: 'Max results', default: 2 } },
    handler: async (args, ctx) => {
      seenContexts.push(ctx);
      return [{ id: '1' }, { id: '2' }, { id: '3' }].slice(0, args.limit as number);
    },
  });
  tools.register({
    name: 'users:get',
    description: 'Get a user',
    parameters: { id: { type: 'string', description: 'User ID', required: true } },
    handler: async (args) => ({ id: args.id, name: 'Alice' }),
  });
  tools.register({
    name: 'fail',
    description: 'Always throws',
    parameters: {},
    handler: async () => {
      throw new Error('database is down');
    },
  });
  tools.register({
    name: 'proto',
    description: 'Returns a __proto__ key',
    parameters: {},
    handler: async (args) => JSON.parse(`{"__proto__":{"polluted":true},"echo":${JSON.stringify(args)}}`),
  });
  server = await startBroker({ tools, limits: { heartbeatIntervalMs: 60_000 } });
});
afterAll(() => server.close());

describe('POST /execute', () => {
  it('streams session_init then final for return 1 + 2', async () => {
    const res = await postJson(`${server.url}/execute`, { code: 'return 1 + 2' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    const id = res.headers.get('x-session-id');
    expect(id).toMatch(/^s_/);
    const events = await readEvents(res);
    expect(events.map((e) => e.type)).toEqual(['session_init', 'final']);
    expect(events.map((e) => e.seq)).toEqual([1, 2]);
    for (const e of events) {
      expect(e.protocolVersion).toBe(2);
      expect(e.sessionId).toBe(id);
      expect(typeof e.timestamp).toBe('number');
    }
    const init = events[0]!;
    if (init.type !== 'session_init') throw new Error('not init');
    expect(init.payload.limits).toEqual({ timeoutMs: 30000, maxToolCalls: 100, memoryLimitBytes: 64 * 1024 * 1024, maxStdoutBytes: 1024 * 1024 });
    expect(init.payload.toolResultUrl).toBe(`/sessions/${id}/tool-result`);
    expect(init.payload.replayUrl).toBe(`/sessions/${id}/events`);
    expect(new Date(init.payload.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const final = finalOf(events);
    expect(final.ok).toBe(true);
    expect(final.result).toBe(3);
    expect(final.stats).toMatchObject({ toolCallCount: 0, stdoutBytes: 0 });
  });

  it('reads a body without Content-Type as JSON', async () => {
    // A byte body: fetch sends no Content-Type for it.
    const res = await fetch(`${server.url}/execute`, { method: 'POST', body: new TextEncoder().encode('{"code":"return 2"}') });
    expect(res.status).toBe(200);
    expect(res.status).toBe(200);
    expect(finalOf(await readEvents(res)).result).toBe(2);
  });

  it('gives no result field for undefined', async () => {
    const final = finalOf(await execute(server.url, { code: 'const x = 1;' }));
    expect(final.ok).toBe(true);
    expect('result' in final).toBe(false);
  });

  it('supports top-level await, console and timers', async () => {
    const events = await execute(server.url, {
      code: 'console.log("a", 1, { b: [1, 2] }); console.warn("careful"); await new Promise((r) => setTimeout(r, 5)); console.error("e"); return "done"',
    });
    expect(events.map((e) => e.type)).toEqual(['session_init', 'stdout', 'log', 'log', 'final']);
    const [, stdout, warn, err] = events;
    expect(stdout!.payload).toEqual({ chunk: 'a 1 { b: [ 1, 2 ] }\n' });
    expect(warn!.payload).toEqual({ level: 'warn', message: 'careful' });
    expect(err!.payload).toEqual({ level: 'error', message: 'e' });
    expect(finalOf(events).stats.stdoutBytes).toBe(stdout!.type === 'stdout' ? stdout!.payload.chunk.length : -1);
  });

  it('runs server tools with defaults applied and the context frozen', async () => {
    const events = await execute(server.url, {
      code: 'context.user = "x"; const list = await callTool("users:list", {}); return { list, user: context.user, n: context.n }',
      context: { user: 'alice', n: { deep: 1 } },
    });
    const call = events.find((e) => e.type === 'tool_call');
    expect(call?.payload).toMatchObject({ toolName: 'users:list', handler: 'server', args: {} });
    expect(call?.payload.callId).toMatch(/^c_/);
    const applied = events.find((e) => e.type === 'tool_result_applied');
    expect(applied?.payload).toMatchObject({ callId: call?.payload.callId, ok: true });
    expect(finalOf(events).result).toEqual({ list: [{ id: '1' }, { id: '2' }], user: 'alice', n: { deep: 1 } });
    const ctx = seenContexts.at(-1) as Record<string, unknown>;
    expect(ctx).toMatchObject({ toolName: 'users:list', callId: call?.payload.callId, context: { user: 'alice', n: { deep: 1 } } });
    expect(ctx.signal).toBeInstanceOf(AbortSignal);
  });

  it('rejects invalid arguments with TOOL_ARGS_INVALID without running the handler', async () => {
    const final = finalOf(
      await execute(server.url, {
        code: 'const errs = []; for (const a of [{}, { id: 5 }]) { try { await callTool("users:get", a) } catch (e) { errs.push(e.code) } } return errs',
      }),
    );
    expect(final.result).toEqual(['TOOL_ARGS_INVALID', 'TOOL_ARGS_INVALID']);
  });

  it('maps a throwing handler to TOOL_ERROR with its message', async () => {
    const final = finalOf(await execute(server.url, { code: 'try { await callTool("fail") } catch (e) { return [e.code, e.message] }' }));
    expect(final.result).toEqual(['TOOL_ERROR', 'database is down']);
  });

  it('keeps __proto__ keys as plain data both ways', async () => {
    const final = finalOf(
      await execute(server.url, {
        code: 'const r = await callTool("proto", JSON.parse(\'{"__proto__":{"x":1}}\')); return { own: Object.keys(r), polluted: ({}).polluted === true, r }',
      }),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect((final.result as { own: string[] }).own).toContain('__proto__');
    expect((final.result as { polluted: boolean }).polluted).toBe(false);
  });

  it('emits every tool_call of Promise.all before any result', async () => {
    const res = await postJson(`${server.url}/execute`, {
      code: 'const [a, b] = await Promise.all([callTool("client:a", {}), callTool("client:b", {})]); return a + b',
    });
    const id = res.headers.get('x-session-id')!;
    const reader = eventReader(res);
    const first = await reader.until('tool_call');
    const second = await reader.next();
    expect(second.type).toBe('tool_call');
    for (const [e, value] of [
      [first, 1],
      [second, 2],
    ] as const) {
      if (e.type !== 'tool_call') throw new Error('expected tool_call');
      expect(e.payload.handler).toBe('client');
      const r = await postJson(`${server.url}/sessions/${id}/tool-result`, { callId: e.payload.callId, result: value });
      expect(await r.json()).toEqual({ success: true });
    }
    const rest = await reader.rest();
    expect(finalOf(rest).result).toBe(3);
  });
});

describe('failures end the session with their code', () => {
  const cases: [string, string, Record<string, unknown>?][] = [
    ['return (', 'SYNTAX_ERROR'],
    ['throw new Error("boom")', 'RUNTIME_ERROR'],
    ['while (true) {}', 'TIMEOUT', { timeout: 300 }],
    ['await new Promise(() => {})', 'TIMEOUT', { timeout: 300 }],
    ['function f() { return f() + 1 } return f()', 'STACK_OVERFLOW'],
    ['let s = "x"; while (true) s += s', 'MEMORY_LIMIT', { limits: { memoryLimitBytes: 16 * 1024 * 1024 } }],
    ['for (;;) console.log("flood")', 'STDOUT_LIMIT', { limits: { maxStdoutBytes: 10000 } }],
    ['for (let i = 0; i < 5; i++) await callTool("users:list", {})', 'MAX_TOOL_CALLS', { maxToolCalls: 3 }],
    ['return () => 1', 'INVALID_RESULT'],
    ['const o = {}; o.o = o; return o', 'INVALID_RESULT'],
    ['return "x".repeat(2000)', 'RESULT_TOO_LARGE', { limits: { maxResultBytes: 1000 } }],
  ];
  for (const [code, expected, extra] of cases) {
    it(`${expected}: ${code}`, async () => {
      const events = await execute(server.url, { code, ...extra });
      const final = finalOf(events);
      expect(final.ok).toBe(false);
      expect(final.error?.code).toBe(expected);
      const error = events[events.length - 2];
      expect(error?.type).toBe('error');
      expect(error?.payload).toMatchObject({ code: expected, recoverable: false });
    });
  }

  it('reports the guest message and a guest-only stack', async () => {
    const final = finalOf(await execute(server.url, { code: '\nfunction inner() { throw new TypeError("bad thing") }\ninner()' }));
    expect(final.error).toMatchObject({ message: 'bad thing', name: 'TypeError' });
    const stack = (final.error as { stack?: string }).stack ?? '';
    expect(stack).toContain('agent.js:2');
    expect(stack).not.toMatch(/node_modules|\/work\/|enclave:guest|node:/);
  });

  it('counts time waiting for a client tool against the timeout', async () => {
    const final = finalOf(await execute(server.url, { code: 'return await callTool("client:never", {})', timeout: 300 }));
    expect(final.error?.code).toBe('TIMEOUT');
  });

  it('never lets a request raise a limit', async () => {
    const events = await execute(server.url, { code: 'return 1', timeout: 10_000_000, limits: { maxStdoutBytes: 1e12 } });
    const init = events[0]!;
    if (init.type !== 'session_init') throw new Error('not init');
    expect(init.payload.limits.timeoutMs).toBe(30000);
    expect(init.payload.limits.maxStdoutBytes).toBe(1024 * 1024);
  });

  it('keeps other sessions working while one spins', async () => {
    const spinning = execute(server.url, { code: 'while (true) {}', timeout: 1000 });
    const normal = await Promise.all([1, 2, 3].map((n) => execute(server.url, { code: `return ${n} * 2` })));
    expect(normal.map((e) => finalOf(e).result)).toEqual([2, 4, 6]);
    expect(finalOf(await spinning).error?.code).toBe('TIMEOUT');
  });
});

describe('filter', () => {
  it('drops filtered types but never final or fatal errors, without renumbering', async () => {
    const events = await execute(server.url, {
      code: 'console.log("x"); await callTool("users:list", {}); throw new Error("late")',
      filter: { types: ['tool_call'] },
    });
    expect(events.map((e) => e.type)).toEqual(['tool_call', 'error', 'final']);
    expect(events[0]!.seq).toBe(3);
    const blocked = await execute(server.url, { code: 'console.log("x"); return 1', filter: { blockedTypes: ['stdout', 'final'] } });
    expect(blocked.map((e) => e.type)).toEqual(['session_init', 'final']);
  });
});
