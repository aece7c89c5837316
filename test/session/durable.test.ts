import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { eventReader, finalOf, postJson, readEvents } from '../helpers/broker.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { RedisServer } from '../helpers/redis-server.js';

const LEASE_MS = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: RedisServer;
let client: Redis;
const processes: BrokerProcess[] = [];

async function spawnBroker(): Promise<BrokerProcess> {
  const p = await startBrokerProcess({ STORE: 'redis', REDIS_URL: redis.url, OWNER_LEASE_MS: String(LEASE_MS), GRACE_MS: '30000' });
  processes.push(p);
  return p;
}

beforeAll(async () => {
  redis = await RedisServer.start();
  client = new Redis(redis.url);
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop().catch(() => {})));
  client?.disconnect();
  await redis?.stop();
});

const CODE = `
const t0 = Date.now();
const r0 = Math.random();
const counted = await callTool("count", {});
const seen = { t0, r0, t1: Date.now(), r1: Math.random(), d: new Date().getTime(), runs: counted.runs };
console.log(JSON.stringify(seen));
const answer = await callTool("client:ask", { q: 1 });
return { seen, answer };
`;

async function untilClientCall(reader: ReturnType<typeof eventReader>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for (;;) {
    const e = await reader.next();
    out.push(e);
    if (e.type === 'tool_call' && e.payload.handler === 'client') return out;
  }
}

describe('durable sessions on Redis', () => {
  it('resume on another process when their owner is killed, without running server tools again', async () => {
    const [a, b] = await Promise.all([spawnBroker(), spawnBroker()]);
    const res = await postJson(`${a.url}/execute`, { code: CODE });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-session-id')!;
    const seen = await untilClientCall(eventReader(res));
    const call = seen.at(-1)!;
    if (call.type !== 'tool_call') throw new Error('no client call');
    const stdout = seen.find((e) => e.type === 'stdout');
    if (stdout?.type !== 'stdout') throw new Error('no stdout');
    const logged = JSON.parse(stdout.payload.chunk) as Record<string, number>;
    expect(logged.runs).toBe(1);

    // Someone follows the session on B while its owner dies.
    const follower = eventReader(await fetch(`${b.url}/sessions/${id}/events`));
    expect(await untilClientCall(follower)).toEqual(seen);
    await a.kill();
    // The owner's lease lapses in Redis (plus the time B trusts an alive answer).
    while ((await client.exists(`enclave:lease:${a.instanceId}`)) === 1) await sleep(50);
    await sleep(LEASE_MS / 2);

    // The client's answer goes to B, which now runs the session.
    const posted = await postJson(`${b.url}/sessions/${id}/tool-result`, { callId: call.payload.callId, result: 'forty-two' });
    expect(posted.status).toBe(200);
    const rest = await follower.rest();
    const final = finalOf(rest);
    // The re-run saw the same clock and random values, and the journaled tool result.
    expect(final).toMatchObject({ ok: true, result: { seen: logged, answer: 'forty-two' } });
    expect(rest.map((e) => e.type)).toEqual(['tool_result_applied', 'final']);

    // The log holds every seq once, and only one of each event the re-run produced again.
    const log = await readEvents(await fetch(`${b.url}/sessions/${id}/events`));
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log).toEqual([...seen, ...rest]);
    expect(log.filter((e) => e.type === 'tool_call')).toHaveLength(2);
    expect(log.filter((e) => e.type === 'stdout')).toHaveLength(1);
    // The server tool ran once, on A.
    expect(await client.get(`runs:${id}`)).toBe('1');

    const info = await (await fetch(`${b.url}/sessions/${id}`)).json();
    expect(info).toMatchObject({ id, status: 'completed' });
    expect((await postJson(`${b.url}/sessions/${id}/tool-result`, { callId: call.payload.callId, result: 1 })).status).toBe(409);
  });
});
