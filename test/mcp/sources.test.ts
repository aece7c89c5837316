import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { EnclaveBroker } from '../../src/broker.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import { silentLogger } from '../../src/logger.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { brokerToolName } from '../../src/mcp/naming.js';
import { guardedFetch } from '../../src/mcp/sources.js';
import type { CallerIdentity } from '../../src/tools/types.js';
// @ts-expect-error: a plain-JS fixture
import { startHttpToolServer } from './fixtures/http-server.mjs';

const STDIO_SERVER = fileURLToPath(new URL('./fixtures/stdio-server.mjs', import.meta.url));

interface HttpToolServer {
  url: string;
  port: number;
  state: { instance: string };
  close(): Promise<void>;
}

async function run(broker: EnclaveBroker, code: string, identity?: CallerIdentity): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const e of broker.execute(code, identity ? { identity } : {})) events.push(e);
  return events;
}

async function result(broker: EnclaveBroker, code: string, identity?: CallerIdentity): Promise<unknown> {
  const events = await run(broker, code, identity);
  const final = events[events.length - 1]!;
  if (final.type !== 'final') throw new Error('no final');
  if (!final.payload.ok) throw new Error(`${final.payload.error?.code}: ${final.payload.error?.message}`);
  return final.payload.result;
}

/** Waits for `check` to hold, polling (no fixed sleeps). */
async function until<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TRY = `
  const out = {};
  for (const [name, args] of context.calls) {
    try { out[name] = { ok: await callTool(name, args) }; }
    catch (e) { out[name] = { code: e.code, message: e.message }; }
  }
  return out;`;

describe('an MCP source over stdio', () => {
  let broker: EnclaveBroker;
  let tools: ToolRegistry;
  beforeAll(async () => {
    tools = new ToolRegistry();
    broker = new EnclaveBroker({
      logger: silentLogger,
      runtimePool: false,
      tools,
      mcp: { sources: [{ name: 'local', command: process.execPath, args: [STDIO_SERVER], env: { FIXTURE_GREETING: 'from-env' } }] },
    });
    await broker.ready();
  });
  afterAll(() => broker?.close());

  it('registers each remote tool as <source>:<tool>, escaping names that need it', () => {
    const names = tools.list().map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['local:add', 'local:echo', 'local:fail', 'local:weird_name_', 'local:typed']));
    expect(brokerToolName('s', 'a b:c/d.e-f')).toBe('s:a_b_c/d.e-f');
  });

  it('declares the tools in getDocumentation from their input and output schemas', () => {
    const doc = tools.getDocumentation();
    expect(doc).toContain(
      '/** Adds two numbers */\ndeclare function callTool(name: "local:add", args: {\n  /** first term */\n  a: number;\n  b: number;\n}): Promise<{\n  sum: number;\n}>;',
    );
    expect(doc).toContain('  /** a color */\n  color: "red" | "green";');
    expect(doc).toContain('  size?: number | "S" | "M";');
    expect(doc).toContain('  /** free text */\n  note?: string | null;');
    expect(doc).toContain('  both?: {\n    x?: number;\n  } & {\n    y?: string;\n  };');
    expect(doc).toContain('  tags?: (string | null)[];');
  });

  it('calls the tools and unwraps their answers; isError rejects with TOOL_ERROR; bad arguments never reach the server', async () => {
    const calls = [
      ['local:add', { a: 1, b: 2 }],
      ['local:echo', { text: 'hi' }],
      ['local:json_text', {}],
      ['local:fail', {}],
      ['local:weird_name_', {}],
      ['local:add', { a: 'x', b: 2 }],
    ];
    const events: StreamEvent[] = [];
    for await (const e of broker.execute(TRY.replace('context.calls', JSON.stringify(calls)))) events.push(e);
    const final = events.at(-1)!;
    expect(final.type).toBe('final');
    const answers = (final.payload as { result: Record<string, unknown> }).result;
    // Later entries of the same name overwrite earlier ones: check them by name.
    expect(answers['local:echo']).toEqual({ ok: 'you said: hi' });
    expect(answers['local:json_text']).toEqual({ ok: { x: 1, instance: expect.stringMatching(/^from-env-\d+$/) } });
    expect(answers['local:fail']).toEqual({ code: 'TOOL_ERROR', message: 'it broke' });
    expect(answers['local:weird_name_']).toEqual({ ok: 'weird ok' });
    expect(answers['local:add']).toMatchObject({ code: 'TOOL_ARGS_INVALID' });
    expect(await result(broker, 'return await callTool("local:add", { a: 1, b: 2 })')).toEqual({ sum: 3 });
  });

  it('asks for an approval before each call of a tool the server marks destructive', async () => {
    const approved: StreamEvent[] = [];
    for await (const e of broker.execute('return await callTool("local:wipe", {})')) {
      approved.push(e);
      if (e.type === 'approval_required') await broker.approve(e.sessionId, (e.payload as { callId: string }).callId);
    }
    expect(approved.map((e) => e.type)).toContain('approval_required');
    expect(approved.at(-1)).toMatchObject({ type: 'final', payload: { ok: true, result: 'wiped' } });
    const rejected: StreamEvent[] = [];
    for await (const e of broker.execute('try { await callTool("local:wipe", {}) } catch (e) { return e.code }')) {
      rejected.push(e);
      if (e.type === 'approval_required') await broker.reject(e.sessionId, (e.payload as { callId: string }).callId, 'no');
    }
    expect(rejected.at(-1)).toMatchObject({ type: 'final', payload: { ok: true, result: 'TOOL_APPROVAL_DENIED' } });
    // A tool not marked destructive is called without asking.
    expect(await result(broker, 'return await callTool("local:echo", { text: "x" })')).toBe('you said: x');
  });

  it('applies permissions to source tools', async () => {
    const out = await result(
      broker,
      TRY.replace(
        'context.calls',
        JSON.stringify([
          ['local:add', { a: 1, b: 1 }],
          ['local:echo', { text: 'x' }],
        ]),
      ),
      {
        tenantId: 't',
        permissions: ['local:add'],
      },
    );
    expect(out).toEqual({ 'local:add': { ok: { sum: 2 } }, 'local:echo': { code: 'TOOL_PERMISSION_DENIED', message: expect.any(String) } });
  });

  it('starts the server again when its process died', async () => {
    const before = (await result(broker, 'return await callTool("local:json_text", {})')) as { instance: string };
    const crashed = await result(broker, 'try { await callTool("local:crash", {}); return "answered" } catch (e) { return [e.code, e.message] }');
    expect(crashed).toEqual(['TOOL_ERROR', expect.stringContaining('MCP source local is unavailable')]);
    const after = await until(async () => {
      const r = (await result(broker, 'try { return await callTool("local:json_text", {}) } catch (e) { return null }')) as { instance: string } | null;
      return r ?? undefined;
    }, 'the stdio source to restart');
    expect(after.instance).toMatch(/^from-env-\d+$/);
    expect(after.instance).not.toBe(before.instance);
  });

  it('a session that ends cancels its call on the server (the session’s AbortSignal)', async () => {
    const before = (await result(broker, 'return await callTool("local:cancelled", {})')) as number;
    const timedOut: StreamEvent[] = [];
    for await (const e of broker.execute('return await callTool("local:slow", { ms: 3000 })', { timeout: 300 })) timedOut.push(e);
    expect(timedOut.at(-1)!.payload).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
    await until(
      async () => (((await result(broker, 'return await callTool("local:cancelled", {})')) as number) > before ? true : undefined),
      'the server to see the cancellation',
    );
  });

  it('relays the server’s progress as tool_progress events', async () => {
    const events = await run(broker, 'return await callTool("local:slow", { ms: 150 })');
    expect(events.at(-1)!.payload).toMatchObject({ ok: true, result: 'done' });
    const progress = events.filter((e) => e.type === 'tool_progress').map((e) => (e.payload as { message?: string }).message);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((m) => /^slow \d$/.test(m ?? ''))).toBe(true);
  });
});

describe('an MCP source over Streamable HTTP', () => {
  let server: HttpToolServer;
  let broker: EnclaveBroker;
  let tools: ToolRegistry;
  beforeAll(async () => {
    server = (await startHttpToolServer()) as HttpToolServer;
    tools = new ToolRegistry();
    broker = new EnclaveBroker({
      logger: silentLogger,
      runtimePool: false,
      tools,
      clientTools: false,
      mcp: { sources: [{ name: 'remote', url: server.url }] },
    });
    await broker.ready();
  });
  afterAll(async () => {
    await broker?.close();
    await server?.close();
  });

  it('lists and calls the tools; an error answer rejects with TOOL_ERROR', async () => {
    expect(tools.has('remote:add')).toBe(true);
    expect(await result(broker, 'return await callTool("remote:add", { a: 2, b: 5 })')).toEqual({ sum: 7 });
    expect(await result(broker, 'try { await callTool("remote:fail", {}) } catch (e) { return [e.code, e.message] }')).toEqual(['TOOL_ERROR', 'it broke']);
  });

  it('a session that ends cancels its call on the server (the session’s AbortSignal)', async () => {
    const before = (server.state as { cancelled?: number }).cancelled ?? 0;
    const events: StreamEvent[] = [];
    for await (const e of broker.execute('return await callTool("remote:slow", { ms: 3000 })', { timeout: 300 })) events.push(e);
    expect(events.at(-1)!.payload).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
    await until(async () => (((server.state as { cancelled?: number }).cancelled ?? 0) > before ? true : undefined), 'the server to see the cancellation');
  });

  it('list_changed refreshes the tools and live sessions get catalog_changed', async () => {
    expect(tools.has('remote:later')).toBe(false);
    const events = await run(
      broker,
      `await callTool("remote:add_tool", {});
       for (let i = 0; i < 200; i++) {
         try { return await callTool("remote:later", {}); }
         catch (e) { if (e.code !== "TOOL_NOT_FOUND") throw e; }
         await new Promise((r) => setTimeout(r, 25));
       }
       return "never listed";`,
    );
    expect(events.at(-1)!.payload).toMatchObject({ ok: true, result: 'later ok' });
    const changed = events.find((e) => e.type === 'catalog_changed');
    expect(changed?.payload).toMatchObject({ addedActions: ['remote:later'], removedActions: [] });
    expect(tools.has('remote:later')).toBe(true);
  });

  it('a source that went down answers with a clear tool error, and comes back after a restart', async () => {
    const before = (await result(broker, 'return await callTool("remote:json_text", {})')) as { instance: string };
    expect(before.instance).toBe(server.state.instance);
    const port = server.port;
    await server.close();
    const down = await result(broker, 'try { await callTool("remote:json_text", {}); return "answered" } catch (e) { return [e.code, e.message] }');
    expect(down).toEqual(['TOOL_ERROR', expect.stringContaining('MCP source remote is unavailable')]);

    server = (await startHttpToolServer(port)) as HttpToolServer;
    const after = await until(async () => {
      const r = (await result(broker, 'try { return await callTool("remote:json_text", {}) } catch (e) { return null }')) as { instance: string } | null;
      return r ?? undefined;
    }, 'the source to reconnect');
    expect(after.instance).toBe(server.state.instance);
    expect(after.instance).not.toBe(before.instance);
  });
});

describe('MCP options', () => {
  it('refuses a bad endpoint configuration when the broker is built', () => {
    expect(() => new EnclaveBroker({ logger: silentLogger, mcp: { server: { path: 'mcp' } } })).toThrow(/mcp.server.path/);
    expect(() => new EnclaveBroker({ logger: silentLogger, mcp: { server: { tools: ['execute', 'run' as never] } } })).toThrow(/mcp.server.tools/);
  });
});

describe('MCP source options', () => {
  it('refuses bad source configurations when the broker is built', () => {
    expect(() => new EnclaveBroker({ logger: silentLogger, mcp: { sources: [{ name: 'bad:name', url: 'http://x.test/mcp' }] } })).toThrow(
      /invalid MCP source name/,
    );
    expect(() => new EnclaveBroker({ logger: silentLogger, mcp: { sources: [{ name: 'a', url: 'ftp://x.test/' }] } })).toThrow(/http\(s\)/);
    expect(
      () =>
        new EnclaveBroker({
          logger: silentLogger,
          mcp: {
            sources: [
              { name: 'a', url: 'http://x.test/mcp' },
              { name: 'a', url: 'http://y.test/mcp' },
            ],
          },
        }),
    ).toThrow(/two MCP sources/);
  });

  it('sends requests only to the source’s own host:port or public addresses (the SSRF guard)', async () => {
    const seen: string[] = [];
    const fetch = guardedFetch(new URL('http://127.0.0.1:4000/mcp'), async (input) => {
      seen.push(String(input));
      return new Response('ok');
    });
    await fetch('http://127.0.0.1:4000/mcp');
    await fetch('https://example.com/.well-known/oauth-protected-resource');
    await expect(fetch('http://169.254.169.254/latest/meta-data')).rejects.toThrow(/link-local/);
    await expect(fetch('http://127.0.0.1:4001/mcp')).rejects.toThrow(/loopback/);
    await expect(fetch('http://10.0.0.5/mcp')).rejects.toThrow(/private/);
    expect(seen).toEqual(['http://127.0.0.1:4000/mcp', 'https://example.com/.well-known/oauth-protected-resource']);
  });

  it('a source that is down at start does not hold the broker back; its tools appear once it is up', async () => {
    const probe = (await startHttpToolServer()) as HttpToolServer;
    const port = probe.port;
    await probe.close();
    const tools = new ToolRegistry();
    const broker = new EnclaveBroker({
      logger: silentLogger,
      runtimePool: false,
      tools,
      mcp: { sources: [{ name: 'late', url: `http://127.0.0.1:${port}/mcp` }] },
    });
    let server: HttpToolServer | undefined;
    try {
      await broker.ready();
      expect(tools.has('late:add')).toBe(false);
      server = (await startHttpToolServer(port)) as HttpToolServer;
      await until(async () => (tools.has('late:add') ? true : undefined), 'the late source to connect');
      expect(await result(broker, 'return await callTool("late:add", { a: 1, b: 1 })')).toEqual({ sum: 2 });
    } finally {
      await broker.close();
      await server?.close();
    }
  });
});
