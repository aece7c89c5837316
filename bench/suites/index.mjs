// Every benchmark: id (selectable on the command line), the row names it produces, its runner.
import * as client from './client.mjs';
import * as durable from './durable.mjs';
import * as http from './http.mjs';
import * as inproc from './inproc.mjs';
import * as limits from './limits.mjs';
import * as mcp from './mcp.mjs';
import * as ownership from './ownership.mjs';
import * as runtime from './runtime.mjs';

export const tasks = [
  {
    id: 'M1',
    rows: ['M1', 'M2'],
    title: 'memory bombs: worst RSS growth vs the bound, worst ms to MEMORY_LIMIT (inline, pool; bare engine anchor)',
    run: limits.m1m2,
  },
  { id: 'F1', rows: ['F1'], title: 'fairness: p99 of return 1 + 2 sent right after K spinning sessions (K = 2, 4, 8)', run: limits.f1 },
  { id: 'B1', rows: ['B1', 'P2'], title: 'POST /execute throughput vs bare Hono stream (pool, inline; P2 pool/inline)', run: http.b1 },
  {
    id: 'B1P',
    rows: ['B1 pinned', 'B1 RSS'],
    title: 'B1 pinned: server on core 0, wrk -t1 -c10 on core 1, vs bare Hono and the bare engine; RSS after',
    run: http.b1pinned,
  },
  {
    id: 'B2',
    rows: ['B2', 'P3', 'B2 thread'],
    title:
      '1,000 sequential no-op server tool calls: the packed package as the issue states it (default, inline); bench/lib/inproc.mjs (inline; P3 pool); the bare thread round trip under them',
    run: inproc.b2,
  },
  { id: 'R1', rows: ['R1'], title: 'RSS and heap kept per ended session after many short sessions (pool, inline)', run: inproc.r1 },
  { id: 'B3', rows: ['B3', 'P4'], title: 'RSS per session waiting on a client tool (inline; P4 pool)', run: inproc.b3 },
  { id: 'B4', rows: ['B4'], title: 'latency of return 1 + 2 at 1 connection', run: http.b4 },
  { id: 'P1', rows: ['P1'], title: 'fairness: p99 at 10 connections while 2 sessions spin', run: http.p1 },
  { id: 'S1', rows: ['S1'], title: 'B1 on the Redis store vs the memory store', run: http.s1 },
  { id: 'X1', rows: ['X1'], title: 'B1 with bearer auth + rate limiting vs off', run: http.x1 },
  { id: 'X2', rows: ['X2'], title: '/health latency while hostile CPU and memory scripts run', run: http.x2 },
  { id: 'C1', rows: ['C1'], title: 'EnclaveClient vs raw fetch + NDJSON', run: client.c1 },
  { id: 'C2', rows: ['C2'], title: 'client browser bundle size', run: client.c2 },
  { id: 'O1', rows: ['O1'], title: 'OpenAPI action call vs fetch from a server tool', run: inproc.o1 },
  { id: 'O2', rows: ['O2'], title: 'OpenAPI catalog build, 500 operations', run: inproc.o2 },
  { id: 'W1', rows: ['W1'], title: 'B1 under Bun vs Node', run: http.w1 },
  { id: 'W2', rows: ['W2'], title: 'cold start to first final (Node dist, Bun)', run: runtime.w2 },
  { id: 'W3', rows: ['W3'], title: 'Cloudflare Worker bundle size', run: runtime.w3 },
  { id: 'D1', rows: ['D1'], title: 'B1 and B2 on the Redis store with durability on vs off', run: durable.d1 },
  { id: 'MCP1', rows: ['MCP1'], title: 'return 1 + 2 through execute over /mcp vs POST /execute', run: mcp.mcp1 },
  { id: 'MCP2', rows: ['MCP2'], title: 'MCP source tool call vs the SDK client calling the same server', run: mcp.mcp2 },
  { id: 'D2', rows: ['D2'], title: 'takeover time of a durable session after its owner is killed', run: durable.d2 },
  { id: 'T1', rows: ['T1'], title: 'takeover time with the default lease after kill -9 (one Redis, cluster)', run: ownership.t1 },
  { id: 'S1C', rows: ['S1 cluster'], title: 'B1 on a Redis Cluster vs the memory store', run: ownership.s1c },
  { id: 'S2', rows: ['S2'], title: 'a client answer posted to another process (one Redis, cluster)', run: ownership.s2 },
];
