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

async function spawnBroker(env: Record<string, string> = {}): Promise<BrokerProcess> {
  const p = await startBrokerProcess({ STORE: 'redis', REDIS_URL: redis.url, OWNER_LEASE_MS: String(LEASE_MS), GRACE_MS: '30000', ...env });
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

const isClientCall = (e: StreamEvent) => e.type === 'tool_call' && e.payload.handler === 'client';

describe('durable sessions on Redis', () => {
  it('resume on another process when their owner is killed, without running server tools again', async () => {
    const [a, b] = await Promise.all([spawnBroker(), spawnBroker()]);
    const res = await postJson(`${a.url}/execute`, { code: CODE });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-session-id')!;
    const seen = await eventReader(res).readUntil(isClientCall);
    const call = seen.at(-1)!;
    if (call.type !== 'tool_call') throw new Error('no client call');
    const stdout = seen.find((e) => e.type === 'stdout');
    if (stdout?.type !== 'stdout') throw new Error('no stdout');
    const logged = JSON.parse(stdout.payload.chunk) as Record<string, number>;
    expect(logged.runs).toBe(1);

    // Someone follows the session on B while its owner dies.
    const follower = eventReader(await fetch(`${b.url}/sessions/${id}/events`));
    expect(await follower.readUntil(isClientCall)).toEqual(seen);
    await a.kill();
    // The owner's lease lapses in Redis (plus the time B trusts an alive answer).
    while ((await client.exists(`enclave:lease:{${a.instanceId}}`)) === 1) await sleep(50);
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

  it('resume a session with parallel server and client calls, timers, the clock and Math.random, running no journaled server tool again', async () => {
    const [a, b] = await Promise.all([spawnBroker(), spawnBroker()]);
    const code = `
      const t0 = Date.now();
      const r0 = Math.random();
      const first = await callTool("once", { v: 1 });
      await new Promise((r) => setTimeout(r, 20));
      const t1 = Date.now();
      const [second, third, q1] = await Promise.all([callTool("once", { v: 2 }), callTool("once", { v: 3 }), callTool("client:q1", {})]);
      const raced = await Promise.race([new Promise((r) => setTimeout(() => r("timer"), 10)), callTool("once", { v: 5 })]);
      console.log(JSON.stringify({ t0, r0, t1, runs: [first.runs, second.runs, third.runs], q1, raced: typeof raced }));
      const q2 = await callTool("client:q2", {});
      const fourth = await callTool("once", { v: 4 });
      return { t0, r0, t1, t2: Date.now() >= t1, r1: Math.random(), v: [first.v, second.v, third.v, fourth.v], runs: [first.runs, second.runs, third.runs, fourth.runs], q1, q2, raced };
    `;
    const res = await postJson(`${a.url}/execute`, { code });
    const id = res.headers.get('x-session-id')!;
    const reader = eventReader(res);
    const seen: StreamEvent[] = [];
    const clientCall = async (name: string) => {
      for (;;) {
        const e = await reader.next();
        seen.push(e);
        if (e.type === 'tool_call' && e.payload.toolName === name) return e.payload.callId;
      }
    };
    // q1 is answered while A runs the session; A dies waiting for q2.
    expect((await postJson(`${a.url}/sessions/${id}/tool-result`, { callId: await clientCall('client:q1'), result: 'one' })).status).toBe(200);
    const q2 = await clientCall('client:q2');
    const stdout = seen.find((e) => e.type === 'stdout');
    if (stdout?.type !== 'stdout') throw new Error('no stdout');
    const logged = JSON.parse(stdout.payload.chunk) as { t0: number; r0: number; t1: number; runs: number[]; raced: string };
    expect(logged.runs).toEqual([1, 1, 1]);
    expect(logged.t1).toBeGreaterThanOrEqual(logged.t0 + 20);

    await a.kill();
    while ((await client.exists(`enclave:lease:{${a.instanceId}}`)) === 1) await sleep(50);
    await sleep(LEASE_MS / 2);
    expect((await postJson(`${b.url}/sessions/${id}/tool-result`, { callId: q2, result: 'two' })).status).toBe(200);

    const log = await readEvents(await fetch(`${b.url}/sessions/${id}/events`));
    const final = finalOf(log);
    expect(final).toMatchObject({
      ok: true,
      result: { t0: logged.t0, r0: logged.r0, t1: logged.t1, t2: true, v: [1, 2, 3, 4], runs: [1, 1, 1, 1], q1: 'one', q2: 'two' },
    });
    // The race between a timer and a tool went the same way in the re-run (journal order).
    expect(typeof (final.result as { raced: unknown }).raced).toBe(logged.raced);
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log.slice(0, seen.length)).toEqual(seen);
    expect(log.filter((e) => e.type === 'stdout')).toHaveLength(1);
    const calls = log.filter((e) => e.type === 'tool_call');
    expect(calls.map((e) => (e.payload as { toolName: string }).toolName)).toEqual(['once', 'once', 'once', 'client:q1', 'once', 'client:q2', 'once']);
    expect(new Set(calls.map((e) => (e.payload as { callId: string }).callId)).size).toBe(calls.length);
    // Each server call ran once, in whichever process: none whose result was journaled ran again.
    for (const call of calls) {
      const { callId, toolName } = call.payload as { callId: string; toolName: string };
      if (toolName === 'once') expect(await client.get(`once:${callId}`), callId).toBe('1');
    }
  });

  it('resume as soon as the owner lease lapses while someone follows, a server call in flight running again', async () => {
    const a = await spawnBroker({ HOLD: '1' });
    const b = await spawnBroker();
    const code = `
      const got = [];
      for (let i = 0; i < 5; i++) got.push((await callTool("once", { v: i })).runs);
      await new Promise((r) => setTimeout(r, 5));
      const gate = await callTool("gate", {});
      return { got, gate, at: Date.now() > 0 };
    `;
    const res = await postJson(`${a.url}/execute`, { code });
    const id = res.headers.get('x-session-id')!;
    const untilGate = async (reader: ReturnType<typeof eventReader>) => {
      const out: StreamEvent[] = [];
      for (;;) {
        const e = await reader.next();
        out.push(e);
        if (e.type === 'tool_call' && e.payload.toolName === 'gate') return out;
      }
    };
    const before = await untilGate(eventReader(res));
    const follower = eventReader(await fetch(`${b.url}/sessions/${id}/events`));
    expect(await untilGate(follower)).toEqual(before);
    await a.kill();
    // Nothing is posted: B, following the session, takes it over once A's lease lapses.
    const rest = await follower.rest();
    expect(rest.map((e) => e.type)).toEqual(['tool_result_applied', 'final']);
    expect(finalOf(rest)).toMatchObject({ ok: true, result: { got: [1, 1, 1, 1, 1], gate: 'open', at: true } });
    const log = await readEvents(await fetch(`${b.url}/sessions/${id}/events`));
    expect(log).toEqual([...before, ...rest]);
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
  });

  it('keep a client answer that another process took while the owner was dying', async () => {
    const [a, b] = await Promise.all([spawnBroker(), spawnBroker()]);
    const res = await postJson(`${a.url}/execute`, {
      code: 'const n = await callTool("count", {}); const q = await callTool("client:q", {}); return { runs: n.runs, q }',
    });
    const id = res.headers.get('x-session-id')!;
    const reader = eventReader(res);
    let callId = '';
    for (;;) {
      const e = await reader.next();
      if (e.type === 'tool_call' && e.payload.toolName === 'client:q') {
        callId = e.payload.callId;
        break;
      }
    }
    await a.kill();
    // A's lease is still alive: B takes the answer and sends it to A, which is gone.
    expect(await client.exists(`enclave:lease:{${a.instanceId}}`)).toBe(1);
    expect((await postJson(`${b.url}/sessions/${id}/tool-result`, { callId, result: 'kept' })).status).toBe(200);
    // Once the lease lapsed, whoever touches the session resumes it, with the answer.
    while ((await client.exists(`enclave:lease:{${a.instanceId}}`)) === 1) await sleep(50);
    await sleep(LEASE_MS / 2);
    const log = await readEvents(await fetch(`${b.url}/sessions/${id}/events`));
    expect(finalOf(log)).toMatchObject({ ok: true, result: { runs: 1, q: 'kept' } });
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(await client.get(`runs:${id}`)).toBe('1');
  });
});
