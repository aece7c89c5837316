import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveClient, EnclaveError, type StreamEvent } from '../../src/client/index.js';
import { exampleTools } from '../../examples/users-tools.js';
import { startBroker, type TestServer } from '../helpers/broker.js';

let server: TestServer;
let client: EnclaveClient;

beforeAll(async () => {
  server = await startBroker({ tools: exampleTools(), limits: { heartbeatIntervalMs: 60_000 } });
  client = new EnclaveClient({ baseUrl: server.url });
});
afterAll(() => server.close());

async function rejection(promise: Promise<unknown>): Promise<EnclaveError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EnclaveError);
  return err as EnclaveError;
}

describe('execute', () => {
  it('resolves to the result', async () => {
    expect(await client.execute('return 1 + 2')).toBe(3);
    expect(await client.execute('return { ctx: context.user }', { context: { user: 'ann' } })).toEqual({ ctx: 'ann' });
  });

  it('calls server tools', async () => {
    expect(await client.execute("return await callTool('users:get', { id: '2' })")).toEqual({ id: '2', name: 'Bob' });
  });

  it('rejects with the final error of a failed session', async () => {
    const syntax = await rejection(client.execute('return ('));
    expect(syntax.code).toBe('SYNTAX_ERROR');
    expect(syntax.sessionId).toMatch(/^s_/);
    const runtime = await rejection(client.execute("throw new Error('nope')"));
    expect(runtime.code).toBe('RUNTIME_ERROR');
    expect(runtime.message).toContain('nope');
    const limited = await rejection(client.execute("await callTool('users:list', {}); await callTool('users:list', {})", { maxToolCalls: 1 }));
    expect(limited.code).toBe('MAX_TOOL_CALLS');
  });

  it('rejects with the code, message, details and status of an HTTP error', async () => {
    const err = await rejection(client.execute('return 1', { timeout: -5 }));
    expect(err.code).toBe('VALIDATION_ERROR');
    expect(err.status).toBe(400);
    expect(err.message).toBeTruthy();
    expect(err.sessionId).toBeUndefined();
  });

  it('reports every event to onEvent, in seq order', async () => {
    const events: StreamEvent[] = [];
    await client.execute("console.log('hi'); return 1", { onEvent: (e) => events.push(e) });
    expect(events.map((e) => e.type)).toEqual(['session_init', 'stdout', 'final']);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('a network failure rejects with NETWORK_ERROR', async () => {
    const dead = new EnclaveClient({ baseUrl: 'http://127.0.0.1:1' });
    expect((await rejection(dead.execute('return 1'))).code).toBe('NETWORK_ERROR');
  });
});

describe('client tools', () => {
  it('answers tool calls with the handlers, in parallel', async () => {
    let waiting: (() => void) | undefined;
    const both = new Promise<void>((resolve) => {
      let n = 0;
      waiting = () => {
        if (++n === 2) resolve();
      };
    });
    const seen: unknown[] = [];
    const result = await client.execute("const [a, b] = await Promise.all([callTool('double', { n: 2 }), callTool('double', { n: 5 })]); return a + b", {
      tools: {
        // Each call waits for the other: only parallel answers can finish.
        double: async (args, ctx) => {
          seen.push({ callId: ctx.callId, sessionId: ctx.sessionId, aborted: ctx.signal.aborted });
          waiting!();
          await both;
          return (args.n as number) * 2;
        },
      },
    });
    expect(result).toBe(14);
    expect(seen).toHaveLength(2);
    for (const s of seen as { callId: string; sessionId: string; aborted: boolean }[]) {
      expect(s.callId).toMatch(/^c_/);
      expect(s.sessionId).toMatch(/^s_/);
      expect(s.aborted).toBe(false);
    }
  });

  it('passes a thrown error and its code to the sandbox', async () => {
    const code = "try { await callTool('boom', {}) } catch (e) { return [e.code, e.message] }";
    const tools = {
      boom: async () => {
        throw Object.assign(new Error('it broke'), { code: 'MY_CODE' });
      },
    };
    expect(await client.execute(code, { tools })).toEqual(['MY_CODE', 'it broke']);
    const plain = { boom: () => Promise.reject(new Error('plain')) };
    expect(await client.execute(code, { tools: plain })).toEqual(['TOOL_ERROR', 'plain']);
  });

  it('answers an unknown tool with TOOL_NOT_FOUND instead of hanging', async () => {
    const code = "try { await callTool('missing', {}) } catch (e) { return e.code }";
    expect(await client.execute(code, { tools: {} })).toBe('TOOL_NOT_FOUND');
    expect(await client.execute(code)).toBe('TOOL_NOT_FOUND');
    // Names of Object.prototype are not tools.
    expect(await client.execute("try { await callTool('toString', {}) } catch (e) { return e.code }")).toBe('TOOL_NOT_FOUND');
  });

  it('a handler returning undefined gives null', async () => {
    expect(await client.execute("return await callTool('nothing', {})", { tools: { nothing: async () => undefined } })).toBeNull();
  });

  it('still answers tools when the filter drops tool_call events', async () => {
    const types: string[] = [];
    const result = await client.execute("console.log('x'); return await callTool('one', {})", {
      tools: { one: async () => 1 },
      filter: { types: ['stdout'] },
      onEvent: (e) => types.push(e.type),
    });
    expect(result).toBe(1);
    expect(types).toEqual(['stdout', 'final']);
  });

  it('ignore leaves a call to submitToolResult', async () => {
    const stream = client.stream("return await callTool('manual', { x: 1 })", { unknownTools: 'ignore' });
    let final: unknown;
    for await (const e of stream) {
      if (e.type === 'tool_call') await client.submitToolResult(e.sessionId, e.payload.callId, { got: e.payload.args });
      if (e.type === 'final') final = e.payload;
    }
    expect(final).toMatchObject({ ok: true, result: { got: { x: 1 } } });
  });

  it('submitToolResult with an error rejects the call', async () => {
    const stream = client.stream("try { await callTool('manual', {}) } catch (e) { return e.code + ' ' + e.message }", {
      unknownTools: 'ignore',
    });
    let result: unknown;
    for await (const e of stream) {
      if (e.type === 'tool_call') {
        await client.submitToolResult(e.sessionId, e.payload.callId, undefined, { error: { message: 'no', code: 'DENIED' } });
        // A second answer for the same call is a conflict.
        const again = await rejection(client.submitToolResult(e.sessionId, e.payload.callId, 1));
        expect(again.code).toBe('CONFLICT');
        expect(again.status).toBe(409);
      }
      if (e.type === 'final') result = e.payload.result;
    }
    expect(result).toBe('DENIED no');
  });
});

describe('sessions', () => {
  it('getSession, resume, health, cancel', async () => {
    const stream = client.stream("return await callTool('users:get', { id: '1' })");
    const seen: StreamEvent[] = [];
    for await (const e of stream) seen.push(e);
    const id = stream.sessionId!;
    expect(id).toMatch(/^s_/);
    const info = await client.getSession(id);
    expect(info).toMatchObject({ id, status: 'completed' });
    expect(typeof info!.createdAt).toBe('number');
    expect(await client.getSession('s_doesnotexist')).toBeNull();

    const replayed: StreamEvent[] = [];
    for await (const e of client.resume(id, 1)) replayed.push(e);
    expect(replayed.map((e) => e.seq)).toEqual(seen.slice(1).map((e) => e.seq));

    const health = await client.health();
    expect(health.status).toBe('ok');
    expect(health.sessions.total).toBeGreaterThan(0);

    expect((await rejection(client.cancel('s_doesnotexist'))).code).toBe('NOT_FOUND');
    expect((await rejection(client.resume('s_doesnotexist')[Symbol.asyncIterator]().next())).code).toBe('NOT_FOUND');
  });
});

describe('headers', () => {
  it('calls a headers function per request (rotating tokens)', async () => {
    let n = 0;
    const tokens: string[] = [];
    const auth = await startBroker({
      authentication: {
        type: 'bearer',
        validate: async (token) => {
          tokens.push(token);
          return { valid: token.startsWith('tok-'), userId: 'u1' };
        },
      },
    });
    try {
      const good = new EnclaveClient({ baseUrl: `${auth.url}/`, headers: () => ({ authorization: `Bearer tok-${++n}` }) });
      expect(await good.execute('return 7')).toBe(7);
      expect(await good.execute('return 8')).toBe(8);
      expect(tokens).toEqual(['tok-1', 'tok-2']);
      const bad = new EnclaveClient({ baseUrl: auth.url, headers: { authorization: 'Bearer wrong' } });
      const err = await rejection(bad.execute('return 1'));
      expect(err.code).toBe('UNAUTHORIZED');
      expect(err.status).toBe(401);
    } finally {
      await auth.close();
    }
  });
});
