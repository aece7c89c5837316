import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { finalOf, workerPoolOf } from '../helpers/broker.js';

// Tools registered with `needsApproval` wait for a decision (broker.approve / broker.reject)
// before their handler runs.

const runs: string[] = [];
const predicateSaw: unknown[] = [];

function registry(): ToolRegistry {
  const tools = new ToolRegistry();
  tools.register({
    name: 'pay',
    description: 'Pays an amount',
    parameters: { amount: { type: 'number', description: 'how much', required: true }, note: { type: 'string', description: 'memo', default: 'none' } },
    needsApproval: true,
    handler: async (args) => {
      runs.push(`pay:${args.amount}`);
      return { paid: args.amount, note: args.note };
    },
  });
  tools.register({
    name: 'delete',
    description: 'Deletes rows; only big deletes need approval',
    parameters: { rows: { type: 'number', description: 'how many', required: true } },
    needsApproval: async (args, ctx) => {
      predicateSaw.push({ rows: args.rows, toolName: ctx.toolName, tenantId: ctx.tenantId });
      return (args.rows as number) > 10;
    },
    handler: async (args) => {
      runs.push(`delete:${args.rows}`);
      return `deleted ${args.rows}`;
    },
  });
  tools.register({
    name: 'quick',
    description: 'Waits at most 150 ms for approval',
    parameters: {},
    needsApproval: true,
    approvalTimeoutMs: 150,
    handler: async () => {
      runs.push('quick');
      return 'ran';
    },
  });
  tools.register({
    name: 'shaky',
    description: 'Its predicate throws',
    parameters: {},
    needsApproval: () => {
      throw new Error('no idea');
    },
    handler: async () => {
      runs.push('shaky');
      return 'ran';
    },
  });
  return tools;
}

/** Iterates a session's events; `onEvent` may act on each (approve, reject…). */
async function run(
  broker: EnclaveBroker,
  code: string,
  onEvent: (e: StreamEvent) => unknown = () => undefined,
  options: Parameters<EnclaveBroker['execute']>[1] = {},
): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of broker.execute(code, options)) {
    out.push(e);
    await onEvent(e);
  }
  return out;
}

const approvalOf = (e: StreamEvent) => (e.type === 'approval_required' ? e.payload : undefined);

describe('approvals (library API, memory store)', () => {
  let broker: EnclaveBroker;
  beforeAll(() => {
    broker = new EnclaveBroker({ logger: silentLogger, tools: registry(), limits: { heartbeatIntervalMs: 60_000 } });
  });
  afterAll(() => broker.close());

  it('approve: the handler runs after the decision and its result flows back', async () => {
    runs.length = 0;
    let seenBeforeDecision: string[] = [];
    const events = await run(broker, 'return await callTool("pay", { amount: 5 })', async (e) => {
      const asked = approvalOf(e);
      if (!asked) return;
      seenBeforeDecision = [...runs];
      await broker.approve(e.sessionId, asked.callId);
    });
    expect(seenBeforeDecision).toEqual([]);
    expect(runs).toEqual(['pay:5']);
    expect(finalOf(events)).toMatchObject({ ok: true, result: { paid: 5, note: 'none' } });
    const types = events.map((e) => e.type);
    expect(types).toEqual(['session_init', 'tool_call', 'approval_required', 'tool_result_applied', 'final']);
    const call = events[1]!;
    if (call.type !== 'tool_call') throw new Error('no call');
    // The validated arguments (default applied), the call's own id.
    expect(approvalOf(events[2]!)).toEqual({ callId: call.payload.callId, toolName: 'pay', args: { amount: 5, note: 'none' } });
  });

  it('reject: the guest catches TOOL_APPROVAL_DENIED with the reason; the handler never runs', async () => {
    runs.length = 0;
    const code = `
      try { await callTool("pay", { amount: 1000 }); return "paid"; }
      catch (e) { return { code: e.code, message: e.message, details: e.details }; }`;
    const events = await run(broker, code, async (e) => {
      const asked = approvalOf(e);
      if (asked) await broker.reject(e.sessionId, asked.callId, 'too much');
    });
    expect(finalOf(events)).toMatchObject({
      ok: true,
      result: { code: 'TOOL_APPROVAL_DENIED', message: 'too much', details: { reason: 'too much' } },
    });
    expect(runs).toEqual([]);
  });

  it('reject without a reason says which tool was not approved', async () => {
    const events = await run(broker, 'return await callTool("pay", { amount: 2 })', async (e) => {
      const asked = approvalOf(e);
      if (asked) await broker.reject(e.sessionId, asked.callId);
    });
    expect(finalOf(events).error).toMatchObject({ code: 'RUNTIME_ERROR', message: 'the call to "pay" was not approved', name: 'Error' });
  });

  it('a predicate asks for some arguments only, with the call context', async () => {
    runs.length = 0;
    predicateSaw.length = 0;
    const asked: unknown[] = [];
    const events = await run(
      broker,
      'return [await callTool("delete", { rows: 3 }), await callTool("delete", { rows: 50 })]',
      async (e) => {
        const a = approvalOf(e);
        if (!a) return;
        asked.push(a.args);
        await broker.approve(e.sessionId, a.callId, { tenantId: 'acme' });
      },
      { identity: { tenantId: 'acme' } },
    );
    expect(finalOf(events)).toMatchObject({ ok: true, result: ['deleted 3', 'deleted 50'] });
    expect(asked).toEqual([{ rows: 50 }]);
    expect(predicateSaw).toEqual([
      { rows: 3, toolName: 'delete', tenantId: 'acme' },
      { rows: 50, toolName: 'delete', tenantId: 'acme' },
    ]);
    expect(runs).toEqual(['delete:3', 'delete:50']);
  });

  it('a predicate that throws fails the call with TOOL_ERROR without asking', async () => {
    runs.length = 0;
    const events = await run(broker, 'try { await callTool("shaky", {}) } catch (e) { return [e.code, e.message] }');
    expect(finalOf(events).result).toEqual(['TOOL_ERROR', 'deciding whether shaky needs approval failed: no idea']);
    expect(events.some((e) => e.type === 'approval_required')).toBe(false);
    expect(runs).toEqual([]);
  });

  it('checks parameters before asking: invalid arguments are TOOL_ARGS_INVALID, no approval_required', async () => {
    const events = await run(broker, 'try { await callTool("pay", { amount: "x" }) } catch (e) { return e.code }');
    expect(finalOf(events).result).toBe('TOOL_ARGS_INVALID');
    expect(events.some((e) => e.type === 'approval_required')).toBe(false);
  });

  it('checks permissions before asking: a call outside them is TOOL_PERMISSION_DENIED, no approval_required', async () => {
    const events = await run(broker, 'try { await callTool("pay", { amount: 1 }) } catch (e) { return e.code }', undefined, {
      identity: { tenantId: 'acme', permissions: ['delete'] },
    });
    expect(finalOf(events).result).toBe('TOOL_PERMISSION_DENIED');
    expect(events.some((e) => e.type === 'approval_required')).toBe(false);
  });

  it('approvalTimeoutMs: an unanswered call fails with TOOL_APPROVAL_DENIED "approval timed out"', async () => {
    runs.length = 0;
    let sessionId = '';
    let callId = '';
    const events = await run(broker, 'try { await callTool("quick", {}) } catch (e) { return [e.code, e.message] }', (e) => {
      const a = approvalOf(e);
      if (a) [sessionId, callId] = [e.sessionId, a.callId];
    });
    expect(finalOf(events).result).toEqual(['TOOL_APPROVAL_DENIED', 'approval timed out']);
    expect(runs).toEqual([]);
    // Too late: the session ended.
    await expect(broker.approve(sessionId, callId)).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('a decision that comes after the approval timed out is CONFLICT', async () => {
    let late: Promise<unknown> | undefined;
    const events = await run(broker, 'try { await callTool("quick", {}) } catch (e) { await new Promise((r) => setTimeout(r, 100)); return e.code }', (e) => {
      if (e.type === 'tool_result_applied') {
        late = broker.approve(e.sessionId, e.payload.callId).then(
          () => 'ok',
          (err: { code: string }) => err.code,
        );
      }
    });
    expect(finalOf(events).result).toBe('TOOL_APPROVAL_DENIED');
    expect(await late).toBe('CONFLICT');
  });

  it('without approvalTimeoutMs the wait counts against the execution timeout (TIMEOUT)', async () => {
    const events = await run(broker, 'return await callTool("pay", { amount: 1 })', undefined, { timeout: 200 });
    expect(events.some((e) => e.type === 'approval_required')).toBe(true);
    expect(finalOf(events).error).toMatchObject({ code: 'TIMEOUT' });
  });

  it('answers twice: the second decision is CONFLICT; unknown calls NOT_FOUND; other tenants NOT_FOUND', async () => {
    const outcomes: string[] = [];
    const tryIt = (p: Promise<void>, name = '') =>
      p.then(
        () => outcomes.push(`${name}ok`),
        (err: { code: string }) => outcomes.push(`${name}${err.code}`),
      );
    const events = await run(
      broker,
      'return await callTool("pay", { amount: 7 })',
      async (e) => {
        const a = approvalOf(e);
        if (!a) return;
        await tryIt(broker.approve(e.sessionId, a.callId, { tenantId: 'other' }));
        await tryIt(broker.approve(e.sessionId, 'c_nope', { tenantId: 't1' }));
        await Promise.all([
          tryIt(broker.approve(e.sessionId, a.callId, { tenantId: 't1' }), 'approve:'),
          tryIt(broker.reject(e.sessionId, a.callId, 'no', { tenantId: 't1' }), 'reject:'),
        ]);
      },
      { identity: { tenantId: 't1' } },
    );
    expect(outcomes.slice(0, 2)).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    expect(
      outcomes
        .slice(2)
        .map((o) => o.split(':')[1])
        .sort(),
    ).toEqual(['CONFLICT', 'ok']);
    // Whichever came first decided.
    const final = finalOf(events);
    if (outcomes.includes('approve:ok')) expect(final).toMatchObject({ ok: true, result: { paid: 7 } });
    else expect(final.error).toMatchObject({ code: 'RUNTIME_ERROR', message: 'Error: no' });
  });

  it('a call that does not wait for approval is CONFLICT', async () => {
    let answer: string | undefined;
    const code = 'const r = await callTool("delete", { rows: 1 }); await new Promise((r) => setTimeout(r, 50)); return r';
    await run(broker, code, async (e) => {
      if (e.type === 'tool_result_applied') {
        answer = await broker.approve(e.sessionId, e.payload.callId).then(
          () => 'ok',
          (err: { code: string }) => err.code,
        );
      }
    });
    expect(answer).toBe('CONFLICT');
  });

  it('approval_required can be filtered out like any other event', async () => {
    // Filtered out of the stream: the decision is taken from the call's tool_call.
    const events = await run(
      broker,
      'return await callTool("pay", { amount: 3 })',
      async (e) => {
        if (e.type !== 'tool_call') return;
        // Wait until the call waits for approval (a decision before that is CONFLICT).
        for (;;) {
          const ok = await broker.approve(e.sessionId, e.payload.callId).then(
            () => true,
            (err: { code: string }) => {
              if (err.code !== 'CONFLICT') throw err;
              return false;
            },
          );
          if (ok) return;
          await new Promise((r) => setTimeout(r, 5));
        }
      },
      { filter: { blockedTypes: ['approval_required'] } },
    );
    expect(events.map((e) => e.type)).toEqual(['session_init', 'tool_call', 'tool_result_applied', 'final']);
    expect(finalOf(events).result).toEqual({ paid: 3, note: 'none' });
  });

  it('rejects bad input: a non-string reason is VALIDATION_ERROR, a non-string id NOT_FOUND', async () => {
    await expect(broker.reject('s_x', 'c_x', 42 as never)).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
    await expect(broker.approve(42 as never, 'c_x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(broker.approve('s_nope', 'c_x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('registering a tool checks needsApproval and approvalTimeoutMs', () => {
    const tools = new ToolRegistry();
    const base = { description: '', parameters: {}, handler: async () => 1 };
    expect(() => tools.register({ ...base, name: 'a', needsApproval: 'yes' as never })).toThrow(/needsApproval/);
    expect(() => tools.register({ ...base, name: 'b', needsApproval: true, approvalTimeoutMs: -1 })).toThrow(/approvalTimeoutMs/);
    expect(() => tools.register({ ...base, name: 'c', needsApproval: true, approvalTimeoutMs: Infinity })).toThrow(/approvalTimeoutMs/);
  });
});

describe('approval log lines', () => {
  it('logs each decision: approved, rejected, timed out', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = {
      ...silentLogger,
      info: (obj: object | string, msg?: string) => void (msg === 'approval decided' && lines.push(obj as Record<string, unknown>)),
    };
    const broker = new EnclaveBroker({ logger, tools: registry(), runtimePool: false, limits: { heartbeatIntervalMs: 60_000 } });
    try {
      let n = 0;
      const code = 'for (const t of ["pay", "pay", "quick"]) { try { await callTool(t, { amount: 1 }) } catch {} } return 1';
      await run(broker, code, async (e) => {
        const a = approvalOf(e);
        if (a?.toolName !== 'pay') return;
        if (n++ === 0) await broker.approve(e.sessionId, a.callId);
        else await broker.reject(e.sessionId, a.callId, 'no');
      });
      expect(lines.map((l) => [l.tool, l.decision])).toEqual([
        ['pay', 'approved'],
        ['pay', 'rejected'],
        ['quick', 'timed out'],
      ]);
      expect(lines[0]).toMatchObject({ sessionId: expect.stringMatching(/^s_/), callId: expect.stringMatching(/^c_/) });
    } finally {
      await broker.close();
    }
  });
});

describe('approvals across a sandbox crash (worker pool, memory store)', () => {
  let broker: EnclaveBroker;
  afterAll(() => broker?.close());

  it('a call waiting for approval keeps waiting on the new sandbox: no second approval_required', async () => {
    runs.length = 0;
    broker = new EnclaveBroker({
      logger: silentLogger,
      tools: registry(),
      limits: { heartbeatIntervalMs: 60_000 },
      runtimePool: { minSize: 1, maxSize: 1, scaleUpThreshold: 0.99, scaleDownThreshold: 0, scaleInterval: 60_000 },
    });
    await broker.ready();
    const executor = workerPoolOf(broker);
    const code = 'const a = await callTool("pay", { amount: 1 }); const b = await callTool("pay", { amount: 2 }); return [a.paid, b.paid]';
    let decisions = 0;
    const events = await run(broker, code, async (e) => {
      const a = approvalOf(e);
      if (!a) return;
      decisions++;
      if (a.args.amount === 2) {
        // Kill the worker while the second call waits, wait for the re-run, then approve.
        const dead = executor.workersForTest()[0]!;
        await dead.terminate();
        for (let i = 0; i < 1500 && (executor.workersForTest()[0] === dead || executor.stats().active !== 1); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      await broker.approve(e.sessionId, a.callId);
    });
    expect(finalOf(events)).toMatchObject({ ok: true, result: [1, 2] });
    expect(events.filter((e) => e.type === 'approval_required')).toHaveLength(2);
    expect(decisions).toBe(2);
    // The first call's approved handler ran once: the re-run took its journaled outcome.
    expect(runs).toEqual(['pay:1', 'pay:2']);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  });
});

for (const [name, runtimePool] of [
  ['inline', false],
  ['worker pool', { minSize: 1, maxSize: 1, scaleUpThreshold: 0.99, scaleDownThreshold: 0, scaleInterval: 60_000 }],
] as const) {
  describe(`a wait with its own approvalTimeoutMs does not count against the execution timeout (${name})`, () => {
    let broker: EnclaveBroker;
    beforeAll(() => {
      const tools = new ToolRegistry();
      tools.register({
        name: 'slow',
        description: 'approval may take a while',
        parameters: {},
        needsApproval: true,
        approvalTimeoutMs: 10_000,
        handler: async () => 'ran',
      });
      broker = new EnclaveBroker({ logger: silentLogger, tools, runtimePool, limits: { heartbeatIntervalMs: 60_000 } });
    });
    afterAll(() => broker.close());

    /** Runs `code` with an 800 ms timeout, approving each call 1200 ms after it asks. */
    const approveLate = (code: string) =>
      run(
        broker,
        code,
        async (e) => {
          const a = approvalOf(e);
          if (!a) return;
          await new Promise((r) => setTimeout(r, 1200));
          await broker.approve(e.sessionId, a.callId);
        },
        { timeout: 800 },
      );

    it('an approval that comes after the execution timeout still runs the handler', async () => {
      const events = await approveLate('return [await callTool("slow", {}), await callTool("slow", {})]');
      expect(finalOf(events)).toMatchObject({ ok: true, result: ['ran', 'ran'] });
    });

    it('parallel waits pause the clock once, and after them the rest of the budget still holds (TIMEOUT)', async () => {
      const ok = await approveLate('return await Promise.all([callTool("slow", {}), callTool("slow", {})])');
      expect(finalOf(ok)).toMatchObject({ ok: true, result: ['ran', 'ran'] });
      const late = await approveLate('await callTool("slow", {}); await new Promise((r) => setTimeout(r, 2500)); return "late"');
      expect(finalOf(late).error).toMatchObject({ code: 'TIMEOUT' });
    });
  });
}
