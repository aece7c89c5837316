import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startBun, type BunServer } from '../helpers/bun.js';

// The MCP endpoint and an stdio MCP source on a real `bun` process, driven by the SDK's client.
describe('MCP on Bun', () => {
  let server: BunServer;
  let client: Client;
  beforeAll(async () => {
    server = await startBun('test/mcp/fixtures/bun-broker.ts');
    client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: 'Bearer good' } } }));
  });
  afterAll(async () => {
    await client?.close().catch(() => {});
    await server?.close();
  });

  it('lists the tools, documenting server tools and the stdio source’s tools', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['execute', 'search', 'describe']);
    const description = tools[0]!.description!;
    expect(description).toContain('declare function callTool(name: "users:get"');
    expect(description).toContain('declare function callTool(name: "local:add"');
  });

  it('runs code that calls a server tool and a tool of the stdio source', async () => {
    const result = (await client.callTool({
      name: 'execute',
      arguments: { code: 'return [await callTool("users:get", { id: "1" }), await callTool("local:add", { a: 2, b: 3 })]' },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect((result.structuredContent as { result: unknown }).result).toEqual([{ id: '1', tenant: 'bun-tenant', runtime: 'object' }, { sum: 5 }]);
  });

  it('answers a failed run with isError', async () => {
    const result = (await client.callTool({ name: 'execute', arguments: { code: 'return await callTool("local:fail", {})' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    // The source's isError answer rejects in the guest; uncaught, it fails the run.
    expect(result.content[0]).toMatchObject({ type: 'text', text: expect.stringMatching(/^RUNTIME_ERROR: .*it broke$/) });
  });

  it('refuses a client without valid credentials', async () => {
    const other = new Client({ name: 'test', version: '1.0.0' });
    await expect(
      other.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: 'Bearer bad' } } })),
    ).rejects.toThrow(/UNAUTHORIZED/);
  });
});
