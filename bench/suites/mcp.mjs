// MCP benchmarks: MCP1 (the MCP endpoint vs POST /execute), MCP2 (an MCP source's tool call
// vs the SDK's client calling the same server).
import { FIRST_WARMUP_SECONDS, SECONDS, WARMUP_SECONDS, runLoad, runNodeJson, startServer } from '../lib/proc.mjs';

const rps = (r) => `${r.rps.toFixed(0)} req/s`;
const us = (x) => `${x.toFixed(1)} µs`;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const MCP_BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'execute', arguments: { code: 'return 1 + 2' } } });
const MCP_HEADERS = { accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };

/** MCP1: `return 1 + 2` through `execute` over the MCP endpoint vs POST /execute, same server, alternating rounds. */
export async function mcp1() {
  const server = await startServer({ kind: 'broker', pool: true, mcp: true });
  try {
    const loads = {
      execute: { url: `${server.url}/execute`, connections: 10, mode: 'cannon' },
      mcp: { url: `${server.url}/mcp`, connections: 10, mode: 'cannon', body: MCP_BODY, headers: MCP_HEADERS },
    };
    // The load generator counts statuses only: check once that the answer is the result.
    const check = await fetch(loads.mcp.url, { method: 'POST', headers: { 'content-type': 'application/json', ...MCP_HEADERS }, body: MCP_BODY });
    const text = await check.text();
    if (!text.includes('"structuredContent":{"result":3')) throw new Error(`/mcp answered ${check.status}: ${text.slice(0, 200)}`);
    await runLoad({ ...loads.execute, seconds: FIRST_WARMUP_SECONDS });
    const best = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, load] of Object.entries(loads)) {
        await runLoad({ ...load, seconds: WARMUP_SECONDS });
        const r = await runLoad({ ...load, seconds: SECONDS });
        if (!best[name] || r.rps > best[name].rps) best[name] = r;
      }
    }
    const ratio = best.mcp.rps / best.execute.rps;
    return [
      { name: 'MCP1 execute over /mcp c10', figure: rps(best.mcp), baseline: `POST /execute ${rps(best.execute)}`, ratio, goal: '≥ 0.7', pass: ratio >= 0.7 },
    ];
  } finally {
    await server.stop();
  }
}

/** MCP2: µs per call of an MCP source's tool from the guest vs the SDK's client, stdio and HTTP. */
export async function mcp2() {
  const script = new URL('../lib/mcp.mjs', import.meta.url).pathname;
  const rows = [];
  for (const kind of ['stdio', 'http']) {
    const r = await runNodeJson(script, [kind]);
    const ratio = r.brokerUs / r.directUs;
    rows.push({
      name: `MCP2 source call ${kind}`,
      figure: `${us(r.brokerUs)} per call (+${us(r.brokerUs - r.directUs)}; a no-op server tool ${us(r.noopUs)})`,
      baseline: `SDK client ${us(r.directUs)}`,
      ratio,
      goal: '≤ 1.3×',
      pass: ratio <= 1.3,
    });
  }
  return rows;
}
