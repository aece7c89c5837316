import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { startBroker, type TestServer } from '../helpers/broker.js';

const waiting: string[] = [];
const aborted: string[] = [];

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function registry(): ToolRegistry {
  const tools = new ToolRegistry();
  tools.register({
    name: 'users:get',
    description: 'Get a user by id',
    parameters: { id: { type: 'string', description: 'User id', required: true } },
    handler: async (args, ctx) => ({ id: args.id, name: 'Alice', tenant: ctx?.tenantId ?? null }),
  });
  tools.register({
    name: 'admin:wipe',
    description: 'Delete everything',
    parameters: {},
    handler: async () => 'wiped',
  });
  tools.register({
    name: 'wait:abort',
    description: 'Waits until the session ends',
    parameters: {},
    handler: (_args, ctx) =>
      new Promise((resolve) => {
        waiting.push(ctx!.sessionId);
        ctx!.signal.addEventListener('abort', () => {
          aborted.push(ctx!.sessionId);
          resolve(null);
        });
      }),
  });
  tools.register({
    name: 'slow:count',
    description: 'Counts slowly, reporting progress',
    parameters: {},
    handler: async (_args, ctx) => {
      for (let i = 1; i <= 3; i++) {
        ctx?.progress({ progress: i, total: 3, message: `step ${i}` });
        await new Promise((r) => setTimeout(r, 120));
      }
      return 3;
    },
  });
  return tools;
}

const TOKENS: Record<string, { tenantId: string; permissions?: string[] }> = {
  all: { tenantId: 't1' },
  users: { tenantId: 't2', permissions: ['users:*'] },
};

async function connect(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: 'test', version: '1.0.0' });
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

function text(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

describe('the broker as an MCP server (stateless)', () => {
  let server: TestServer;
  let client: Client;
  beforeAll(async () => {
    server = await startBroker({
      tools: registry(),
      mcp: { server: true },
      authentication: { type: 'bearer', validate: async (token) => (TOKENS[token] ? { valid: true, ...TOKENS[token] } : { valid: false }) },
    });
    client = await connect(`${server.url}/mcp`, 'all');
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('lists execute, search and describe; execute documents the tools the caller may use', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['execute', 'search', 'describe']);
    const execute = tools.find((t) => t.name === 'execute')!;
    expect(execute.inputSchema.required).toEqual(['code']);
    expect(execute.description).toContain('declare function callTool(name: "users:get", args: {');
    expect(execute.description).toContain('admin:wipe');

    const limited = await connect(`${server.url}/mcp`, 'users');
    try {
      const description = (await limited.listTools()).tools.find((t) => t.name === 'execute')!.description!;
      expect(description).toContain('users:get');
      expect(description).not.toContain('admin:wipe');
    } finally {
      await limited.close();
    }
  });

  it('runs code that calls a server tool, with the caller as tenant', async () => {
    const result = (await client.callTool({
      name: 'execute',
      arguments: { code: 'console.log("hi", context.n); return await callTool("users:get", { id: "7" })', context: { n: 2 } },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const structured = result.structuredContent as { result: unknown; logs: string[]; stats: { toolCallCount: number }; sessionId: string };
    expect(structured.result).toEqual({ id: '7', name: 'Alice', tenant: 't1' });
    expect(structured.logs).toEqual(['hi 2\n']);
    expect(structured.stats.toolCallCount).toBe(1);
    expect(structured.sessionId).toMatch(/^s_/);
    expect(JSON.parse(text(result).split('\n')[0]!)).toEqual({ id: '7', name: 'Alice', tenant: 't1' });
  });

  it('answers a failed run with isError, its code and message', async () => {
    const result = (await client.callTool({ name: 'execute', arguments: { code: 'throw new Error("boom")' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^RUNTIME_ERROR: .*boom$/);
    expect((result.structuredContent as { error: { code: string } }).error.code).toBe('RUNTIME_ERROR');

    const syntax = (await client.callTool({ name: 'execute', arguments: { code: 'return (' } })) as CallToolResult;
    expect(syntax.isError).toBe(true);
    expect(text(syntax)).toMatch(/^SYNTAX_ERROR: /);
  });

  it('applies permissions inside execute, and answers tools nobody serves with TOOL_NOT_FOUND', async () => {
    const limited = await connect(`${server.url}/mcp`, 'users');
    try {
      const result = (await limited.callTool({
        name: 'execute',
        arguments: {
          code: 'const out = {}; for (const n of ["admin:wipe", "nobody:serves"]) { try { await callTool(n, {}) } catch (e) { out[n] = e.code } } return out',
        },
      })) as CallToolResult;
      expect((result.structuredContent as { result: unknown }).result).toEqual({ 'admin:wipe': 'TOOL_PERMISSION_DENIED', 'nobody:serves': 'TOOL_NOT_FOUND' });
    } finally {
      await limited.close();
    }
  });

  it('refuses invalid arguments and unknown tools as tool errors', async () => {
    const missing = (await client.callTool({ name: 'execute', arguments: {} })) as CallToolResult;
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/^VALIDATION_ERROR: code/);
    const unknown = (await client.callTool({ name: 'nope', arguments: {} })) as CallToolResult;
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toBe('TOOL_NOT_FOUND: no tool named nope');
  });

  it('search finds tools by words; describe answers a declaration, within the caller’s permissions', async () => {
    const found = (await client.callTool({ name: 'search', arguments: { query: 'user' } })) as CallToolResult;
    expect((found.structuredContent as { tools: Array<{ name: string }> }).tools.map((t) => t.name)).toEqual(['users:get']);
    const described = (await client.callTool({ name: 'describe', arguments: { name: 'users:get' } })) as CallToolResult;
    expect(text(described)).toContain('declare function callTool(name: "users:get", args: {\n  /** User id */\n  id: string;\n}): Promise<unknown>;');

    const limited = await connect(`${server.url}/mcp`, 'users');
    try {
      const hidden = (await limited.callTool({ name: 'describe', arguments: { name: 'admin:wipe' } })) as CallToolResult;
      expect(hidden.isError).toBe(true);
      expect(text(hidden)).toBe('TOOL_NOT_FOUND: no tool named admin:wipe');
    } finally {
      await limited.close();
    }
  });

  it('sends progress notifications from the session’s events when the client asks', async () => {
    const messages: string[] = [];
    const result = await client.request(
      { method: 'tools/call', params: { name: 'execute', arguments: { code: 'return await callTool("slow:count", {})' } } },
      CallToolResultSchema,
      { onprogress: (p) => messages.push(p.message ?? '') },
    );
    expect((result.structuredContent as { result: unknown }).result).toBe(3);
    expect(messages).toContain('calling slow:count');
    expect(messages).toContain('step 1');
    expect(messages).toContain('step 3');
  });

  it('cancels the session when the client goes away', async () => {
    const controller = new AbortController();
    const call = fetch(`${server.url}/mcp`, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: 'Bearer all', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'execute', arguments: { code: 'return await callTool("wait:abort", {})' } },
      }),
    });
    call.catch(() => {});
    await until(() => waiting.length > 0, 'the tool call');
    const sessionId = waiting.at(-1)!;
    controller.abort();
    await until(() => aborted.includes(sessionId), 'the session to end');
  });

  it('refuses a client without credentials, or with bad ones (401)', async () => {
    await expect(connect(`${server.url}/mcp`)).rejects.toThrow(/UNAUTHORIZED/);
    await expect(connect(`${server.url}/mcp`, 'wrong')).rejects.toThrow(/UNAUTHORIZED/);
    const res = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe('UNAUTHORIZED');
  });

  it('answers with CORS headers (MCP headers allowed) and the request id, as every route', async () => {
    const preflight = await fetch(`${server.url}/mcp`, {
      method: 'OPTIONS',
      headers: { origin: 'http://app.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'mcp-session-id,mcp-protocol-version' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Mcp-Session-Id.*Mcp-Protocol-Version/);
    const res = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { origin: 'http://app.test', authorization: 'Bearer all', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('Mcp-Session-Id');
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect((await res.json()).result.tools).toHaveLength(3);
  });

  it('answers a bare tools/call as the SDK would, and leaves protocol errors to the SDK', async () => {
    const call = (headers: Record<string, string>, params: Record<string, unknown> = { name: 'execute', arguments: { code: 'return 1 + 2' } }) =>
      fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { authorization: 'Bearer all', 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 'a', method: 'tools/call', params }),
      });
    const ok = await call({ 'mcp-protocol-version': '2025-06-18' });
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect(body).toMatchObject({ jsonrpc: '2.0', id: 'a', result: { content: [{ type: 'text', text: '3' }], structuredContent: { result: 3 } } });
    const oldVersion = await call({ 'mcp-protocol-version': '1999-01-01' });
    expect(oldVersion.status).toBe(400);
    expect((await oldVersion.json()).error.message).toMatch(/protocol version/i);
    const noStream = await call({ accept: 'application/json' });
    expect(noStream.status).toBe(406);
    await noStream.body?.cancel();
    const badArgs = await call({}, { name: 'execute', arguments: 'x' });
    expect(badArgs.status).toBe(200);
    expect(await badArgs.json()).toMatchObject({ jsonrpc: '2.0', id: 'a', error: { code: expect.any(Number) } });
  });

  it('answers GET with 405 when it keeps no MCP sessions', async () => {
    const res = await fetch(`${server.url}/mcp`, { headers: { authorization: 'Bearer all', accept: 'text/event-stream' } });
    expect(res.status).toBe(405);
    await res.body?.cancel();
  });
});

describe('the broker as an MCP server (sessions, custom path, rate limits)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startBroker({
      tools: registry(),
      mcp: { server: { path: '/agents/mcp', sessions: true, tools: ['execute'] } },
      rateLimiting: { windowMs: 60_000, maxRequests: 6 },
    });
  });
  afterAll(() => server?.close());

  it('does not mount /mcp when the path is elsewhere', async () => {
    const res = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(404);
  });

  it('keeps an MCP session across requests, serves only the tools asked for, and counts requests for rate limits', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/agents/mcp`));
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(transport);
    try {
      expect(transport.sessionId).toBeTruthy();
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['execute']);
      const result = (await client.callTool({ name: 'execute', arguments: { code: 'return 1 + 2' } })) as CallToolResult;
      expect((result.structuredContent as { result: unknown }).result).toBe(3);
      // MCP requests count for the rate limit like any other.
      let limited: Response | undefined;
      for (let i = 0; i < 10 && !limited; i++) {
        const res = await fetch(`${server.url}/agents/mcp`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': transport.sessionId! },
          body: JSON.stringify({ jsonrpc: '2.0', id: 100 + i, method: 'tools/list' }),
        });
        if (res.status === 429) limited = res;
        else await res.body?.cancel();
      }
      expect(limited?.status).toBe(429);
      expect((await limited!.json()).error.code).toBe('RATE_LIMITED');
    } finally {
      await client.close().catch(() => {});
    }
  });
});

describe('MCP sessions with authentication', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startBroker({
      tools: registry(),
      mcp: { server: { sessions: true } },
      authentication: { type: 'bearer', validate: async (token) => (TOKENS[token] ? { valid: true, ...TOKENS[token] } : { valid: false }) },
    });
  });
  afterAll(() => server?.close());

  it('answers an MCP session only to the tenant that opened it', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: 'Bearer all' } } });
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const post = (token: string) =>
        fetch(`${server.url}/mcp`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-session-id': transport.sessionId!,
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
        });
      const other = await post('users');
      expect(other.status).toBe(404);
      await other.body?.cancel();
      const own = await post('all');
      expect(own.status).toBe(200);
      expect(await own.text()).toContain('"execute"');
    } finally {
      await client.close().catch(() => {});
    }
  });

  it('cancels the session when the client cancels the request', async () => {
    const client = await connect(`${server.url}/mcp`, 'all');
    try {
      const controller = new AbortController();
      const before = waiting.length;
      const call = client.callTool({ name: 'execute', arguments: { code: 'return await callTool("wait:abort", {})' } }, undefined, {
        signal: controller.signal,
      });
      call.catch(() => {});
      await until(() => waiting.length > before, 'the tool call');
      const sessionId = waiting.at(-1)!;
      controller.abort();
      await expect(call).rejects.toThrow();
      await until(() => aborted.includes(sessionId), 'the session to end');
      expect((await server.broker.getSession(sessionId, { tenantId: 't1' }))?.status).toBe('error');
    } finally {
      await client.close().catch(() => {});
    }
  });
});

describe('idle MCP sessions', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startBroker({ tools: registry(), mcp: { server: { sessions: true, sessionIdleMs: 200 } } });
  });
  afterAll(() => server?.close());

  it('closes MCP sessions left unused for sessionIdleMs', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`));
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(transport);
    const id = transport.sessionId!;
    const post = (headers: Record<string, string>) =>
      fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    try {
      const used = await post({ 'mcp-session-id': id });
      expect(used.status).toBe(200);
      await used.body?.cancel();
      // Requests of other clients run the sweep: poll with requests that belong to no session
      // (the SDK refuses them) until the idle session is gone.
      const start = Date.now();
      for (;;) {
        const other = await post({});
        await other.body?.cancel();
        if (Date.now() - start > 400) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const stale = await post({ 'mcp-session-id': id });
      expect(stale.status).toBe(404);
      await stale.body?.cancel();
    } finally {
      await client.close().catch(() => {});
    }
  });
});
