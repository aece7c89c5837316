// MCP2, in its own process: µs per tool call of an MCP source (a guest loop of `callTool`)
// against the same calls made directly with the SDK's client, on the same server.
//   node --import tsx bench/lib/mcp.mjs <stdio|http>
// Prints one JSON line { brokerUs, directUs, noopUs, calls, rounds }.
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EnclaveBroker, ToolRegistry } from './built.mjs';
import { startHttpToolServer } from '../../test/mcp/fixtures/http-server.mjs';

const kind = process.argv[2] ?? 'stdio';
const CALLS = Number(process.env.BENCH_MCP_CALLS ?? (kind === 'stdio' ? 500 : 200));
// Many short alternating rounds, the best of each side kept: the machine is shared, and load
// from elsewhere then hits both sides alike instead of one run.
const ROUNDS = Number(process.env.BENCH_MCP_ROUNDS ?? 12);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const stdioServer = fileURLToPath(new URL('../../test/mcp/fixtures/stdio-server.mjs', import.meta.url));

const http = kind === 'http' ? await startHttpToolServer() : undefined;
const source = http ? { name: 'fx', url: http.url } : { name: 'fx', command: process.execPath, args: [stdioServer] };
const transport = () =>
  http ? new StreamableHTTPClientTransport(new URL(http.url)) : new StdioClientTransport({ command: process.execPath, args: [stdioServer], stderr: 'ignore' });

// Direct: the SDK's client, sequential calls.
const client = new Client({ name: 'bench', version: '1.0.0' });
await client.connect(transport());
// As clients do (and as the broker does): list the tools first, so the SDK checks structured
// answers against their outputSchema on both sides.
await client.listTools();
async function direct(n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await client.callTool({ name: 'add', arguments: { a: i, b: 1 } });
  return ((performance.now() - t0) * 1000) / n;
}

// Through the broker: one session whose guest makes the calls.
// `noop` (an in-process server tool) gives the broker's own cost of a tool call, for scale.
const tools = new ToolRegistry();
tools.register({ name: 'noop', description: 'adds', parameters: {}, handler: async (args) => ({ sum: args.a + args.b }) });
const broker = new EnclaveBroker({
  logger: quiet,
  runtimePool: false,
  tools,
  limits: { timeoutMs: 600_000, maxToolCalls: 1_000_000 },
  mcp: { sources: [source] },
});
await broker.ready();
async function viaBroker(n, tool = 'fx:add') {
  const code = `for (let i = 0; i < ${n}; i++) await callTool('${tool}', { a: i, b: 1 }); return 1`;
  const t0 = performance.now();
  let last;
  for await (const e of broker.execute(code)) last = e;
  const us = ((performance.now() - t0) * 1000) / n;
  if (last?.type !== 'final' || !last.payload.ok) throw new Error(`not ok: ${JSON.stringify(last?.payload)}`);
  return us;
}

// Warm-up to the steady state of both sides. The direct client settles within a few hundred
// calls; V8 goes on re-optimizing the broker's session path over its first ≈ 15 sessions
// (with --trace-opt: 65 TurboFan compiles in the 10 sessions after one warm-up session, none
// after the 16th), and on two cores those background compiles take CPU from the MCP server's
// process. So the warm-up runs many short sessions, on every side alike.
const WARMUP_SESSIONS = Number(process.env.BENCH_MCP_WARMUP ?? 20);
for (let i = 0; i < WARMUP_SESSIONS; i++) {
  await direct(100);
  await viaBroker(100);
  await viaBroker(100, 'noop');
}
const directs = [];
const brokers = [];
const noops = [];
for (let r = 0; r < ROUNDS; r++) {
  directs.push(await direct(CALLS));
  brokers.push(await viaBroker(CALLS));
  noops.push(await viaBroker(CALLS, 'noop'));
}
await client.close();
await broker.close();
await http?.close();
console.log(JSON.stringify({ brokerUs: Math.min(...brokers), directUs: Math.min(...directs), noopUs: Math.min(...noops), calls: CALLS, rounds: ROUNDS }));
process.exit(0);
