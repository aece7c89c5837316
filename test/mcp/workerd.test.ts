import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { bundleWorker, workerModules } from '../helpers/workerd.js';

const root = join(import.meta.dirname, '..', '..');
const outdir = join(root, '.scratch', 'workerd-mcp-test');

/** Bundles test/mcp/fixtures/worker.ts as wrangler does (the QuickJS `.wasm` as a CompiledWasm module). */
async function bundle(): Promise<void> {
  await bundleWorker('test/mcp/fixtures/worker.ts', 'workerd-mcp-test');
}

async function connect(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

// The MCP endpoint in a real workerd: the Worker forwards each MCP request to a new session
// object, whose `execute` runs the code with the CfWorker JSON Schema validator (no codegen).
describe('MCP on workerd', () => {
  let mf: Miniflare;
  let url: string;
  let client: Client;
  beforeAll(async () => {
    await bundle();
    mf = new Miniflare({
      ...workerModules(outdir),
      durableObjects: {
        ENCLAVE_SESSION: { className: 'EnclaveSession', useSQLite: true },
        ENCLAVE_COUNTERS: { className: 'EnclaveCounters', useSQLite: true },
      },
      host: '127.0.0.1',
      port: 0,
    });
    url = (await mf.ready).toString().replace(/\/$/, '');
    client = await connect(url, 'good');
  }, 60_000);
  afterAll(async () => {
    await client?.close().catch(() => {});
    await mf?.dispose();
  });

  it('lists the tools, documenting the server tools', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['execute', 'search', 'describe']);
    expect(tools[0]!.description).toContain('declare function callTool(name: "users:get", args: {');
  });

  it('runs code that calls a server tool, as a session whose events can be replayed', async () => {
    const result = (await client.callTool({
      name: 'execute',
      arguments: { code: 'console.log("edge"); return await callTool("users:get", { id: "9" })' },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    const structured = result.structuredContent as { result: { id: string; tenant: string; session: string }; logs: string[]; sessionId: string };
    expect(structured.result).toMatchObject({ id: '9', tenant: 'edge' });
    expect(structured.result.session).toBe(structured.sessionId);
    expect(structured.logs).toEqual(['edge\n']);
    const replay = await fetch(`${url}/sessions/${structured.sessionId}/events?after=0`, { headers: { authorization: 'Bearer good' } });
    expect(replay.status).toBe(200);
    expect(await replay.text()).toContain('"type":"final"');
  });

  it('answers a failed run with isError', async () => {
    const result = (await client.callTool({ name: 'execute', arguments: { code: 'null.x' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.content[0]).toMatchObject({ type: 'text', text: expect.stringMatching(/^RUNTIME_ERROR: /) });
  });

  it('refuses a client without valid credentials', async () => {
    await expect(connect(url, 'bad')).rejects.toThrow(/UNAUTHORIZED/);
  });
});
