import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { eventReader, finalOf, postJson, readEvents } from '../helpers/broker.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { RedisCluster } from '../helpers/redis-cluster.js';
import { RedisServer } from '../helpers/redis-server.js';
import { UpstashBridge } from '../helpers/upstash-bridge.js';

const LEASE_MS = 600;
const GRACE_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: RedisServer;
let cluster: RedisCluster;
let bridge: UpstashBridge;
const processes: BrokerProcess[] = [];

async function spawnBroker(env: Record<string, string>): Promise<BrokerProcess> {
  const p = await startBrokerProcess({ OWNER_LEASE_MS: String(LEASE_MS), GRACE_MS: String(GRACE_MS), ...env });
  processes.push(p);
  return p;
}
beforeAll(async () => {
  [redis, cluster] = await Promise.all([RedisServer.start(), RedisCluster.start()]);
  bridge = await UpstashBridge.start(redis.url);
}, 60_000);

/** The Redis deployments the processes share: one server, and a three-primary cluster. */
const backends = [
  {
    name: 'one Redis',
    env: (): Record<string, string> => ({ STORE: 'redis', REDIS_URL: redis.url }),
    client: () => new Redis(redis.url),
  },
  {
    name: 'a Redis Cluster',
    env: (): Record<string, string> => ({ STORE: 'redis', REDIS_CLUSTER: cluster.spec }),
    client: () => cluster.client(),
  },
];

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop().catch(() => {})));
  await bridge?.stop();
  await redis?.stop();
  await cluster?.stop();
});

/** Starts a session on `url` that first calls the server tool `noop`, then waits on a client tool. */
async function waitingSession(url: string, code = 'await callTool("noop", {}); console.log("hi"); return await callTool("client:ask", { q: 1 })') {
  const res = await postJson(`${url}/execute`, { code });
  expect(res.status).toBe(200);
  const id = res.headers.get('x-session-id')!;
  const reader = eventReader(res);
  const seen: StreamEvent[] = [];
  for (;;) {
    const e = await reader.next();
    seen.push(e);
    if (e.type === 'tool_call' && e.payload.handler === 'client') {
      /** Goes away like a client that disconnects. */
      const leave = async () => {
        await reader.close();
        await res.body?.cancel().catch(() => {});
      };
      return { id, reader, seen, callId: e.payload.callId, leave };
    }
  }
}

/** Reads a follower until its `tool_call` for the client (or any `type`). */
async function readUntil(reader: ReturnType<typeof eventReader>, done: (e: StreamEvent) => boolean): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for (;;) {
    const e = await reader.next();
    out.push(e);
    if (done(e)) return out;
  }
}

const isClientCall = (e: StreamEvent) => e.type === 'tool_call' && e.payload.handler === 'client';
const json = async (res: Response | Promise<Response>) => (await res).json();

async function eventually<T>(check: () => Promise<T>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

describe.each(backends)('broker processes on $name act as one', (backend) => {
  let a: BrokerProcess;
  let b: BrokerProcess;
  beforeAll(async () => {
    [a, b] = await Promise.all([spawnBroker(backend.env()), spawnBroker(backend.env())]);
  });

  it('answers GET, events, tool-result and their errors on B as A does', async () => {
    const { id, reader, seen, callId } = await waitingSession(a.url);
    const serverCall = seen.find((e) => e.type === 'tool_call' && e.payload.handler === 'server')!;
    if (serverCall.type !== 'tool_call') throw new Error('no server call');

    // Same record on both; /health counts sessions per process.
    const [infoA, infoB] = await Promise.all([json(fetch(`${a.url}/sessions/${id}`)), json(fetch(`${b.url}/sessions/${id}`))]);
    expect(infoB).toEqual(infoA);
    expect(infoB).toMatchObject({ id, status: 'running' });
    expect((await json(fetch(`${a.url}/health`))).sessions.active).toBe(1);
    expect((await json(fetch(`${b.url}/health`))).sessions.active).toBe(0);

    // Replay after a seq and follow live, on B.
    const replay = eventReader(await fetch(`${b.url}/sessions/${id}/events?after=2`));
    const replayed = await readUntil(replay, isClientCall);
    expect(replayed).toEqual(seen.filter((e) => e.seq > 2));
    const follower = eventReader(await fetch(`${b.url}/sessions/${id}/events?after=0`));
    expect(await readUntil(follower, isClientCall)).toEqual(seen);

    // Tool results on B: unknown call 404, server-side call 409, the answer 200, a second one 409.
    const post = (callId: string, result: unknown) => postJson(`${b.url}/sessions/${id}/tool-result`, { callId, result });
    const unknown = await post('c_unknown', 1);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe('NOT_FOUND');
    const server = await post(serverCall.payload.callId, 1);
    expect(server.status).toBe(409);
    expect((await server.json()).error.code).toBe('CONFLICT');
    expect((await post(callId, 'from B')).status).toBe(200);
    const second = await post(callId, 'again');
    expect(second.status).toBe(409);
    expect((await second.json()).error.code).toBe('CONFLICT');

    const onA = await reader.rest();
    expect(finalOf(onA)).toMatchObject({ ok: true, result: 'from B' });
    const [followed, replayRest] = await Promise.all([follower.rest(), replay.rest()]);
    expect(followed).toEqual(onA);
    expect(replayRest).toEqual(onA);

    // After the end: 409 on B whatever the call, and the same record on both.
    expect((await post(callId, 'late')).status).toBe(409);
    expect((await post('c_other', 'late')).status).toBe(409);
    const [doneA, doneB] = await Promise.all([json(fetch(`${a.url}/sessions/${id}`)), json(fetch(`${b.url}/sessions/${id}`))]);
    expect(doneB).toEqual(doneA);
    expect(doneB).toMatchObject({ status: 'completed' });
    expect((await json(fetch(`${a.url}/health`))).sessions.active).toBe(0);
  });

  it('cancels a session on A through DELETE on B', async () => {
    const { id, reader } = await waitingSession(a.url);
    const follower = eventReader(await fetch(`${b.url}/sessions/${id}/events`));
    await readUntil(follower, isClientCall);
    expect(await json(fetch(`${b.url}/sessions/${id}`, { method: 'DELETE' }))).toEqual({ success: true });
    const onA = await reader.rest();
    expect(finalOf(onA).error?.code).toBe('CANCELLED');
    expect(finalOf(await follower.rest()).error?.code).toBe('CANCELLED');
    expect(await json(fetch(`${b.url}/sessions/${id}`))).toMatchObject({ status: 'error', errorCode: 'CANCELLED' });
  });

  it('counts a reader on B for the disconnect grace of a session on A', async () => {
    const { id, callId, seen, leave } = await waitingSession(a.url);
    // B's reader tells A before its answer starts; the creating stream leaves after that (no
    // window in which the session has no reader at all).
    const follower = eventReader(await fetch(`${b.url}/sessions/${id}/events?after=${seen.at(-1)!.seq}`));
    await leave();
    // Several graces pass while only B reads: the session lives on.
    await sleep(GRACE_MS * 4);
    expect(await json(fetch(`${a.url}/sessions/${id}`))).toMatchObject({ status: 'running' });
    expect((await postJson(`${b.url}/sessions/${id}/tool-result`, { callId, result: 'kept' })).status).toBe(200);
    expect(finalOf(await follower.rest())).toMatchObject({ ok: true, result: 'kept' });

    // When the reader on B goes away too, the grace runs out and the session is cancelled.
    const other = await waitingSession(a.url);
    const leavingRes = await fetch(`${b.url}/sessions/${other.id}/events?after=${other.seen.at(-1)!.seq}`);
    const leaving = eventReader(leavingRes);
    await other.leave();
    await sleep(GRACE_MS * 2);
    expect(await json(fetch(`${a.url}/sessions/${other.id}`))).toMatchObject({ status: 'running' });
    await leaving.close();
    await leavingRes.body?.cancel().catch(() => {});
    await eventually(async () => {
      expect(await json(fetch(`${b.url}/sessions/${other.id}`))).toMatchObject({ status: 'error', errorCode: 'CANCELLED' });
    });
  });

  it('ends the sessions of a killed non-durable process with SESSION_LOST, once, for followers and callers', async () => {
    const c = await spawnBroker({ ...backend.env(), DURABLE: '0' });
    const followed = await waitingSession(c.url);
    const touched = await waitingSession(c.url);
    const follower = eventReader(await fetch(`${b.url}/sessions/${followed.id}/events`));
    await readUntil(follower, isClientCall);
    await c.kill();

    // The follower on B gets the end without anyone else touching the session.
    const rest = await follower.rest();
    expect(rest.map((e) => e.type)).toEqual(['error', 'final']);
    const last = followed.seen.at(-1)!.seq;
    expect(rest.map((e) => e.seq)).toEqual([last + 1, last + 2]);
    expect(rest[0]!.payload).toMatchObject({ code: 'SESSION_LOST', recoverable: true });
    expect(finalOf(rest)).toMatchObject({ ok: false, error: { code: 'SESSION_LOST' } });

    // Reading never moves a session: GET answers the record as it is, lease lapsed or not.
    const lease = backend.client();
    try {
      while ((await lease.exists(`enclave:lease:{${c.instanceId}}`)) === 1) await sleep(50);
    } finally {
      lease.disconnect();
    }
    await sleep(LEASE_MS);
    for (const url of [a.url, b.url]) expect(await json(fetch(`${url}/sessions/${touched.id}`))).toMatchObject({ status: 'running' });

    // A write that needs an owner ends it; A and B writing together end it once.
    const answers = await Promise.all([
      postJson(`${a.url}/sessions/${touched.id}/tool-result`, { callId: touched.callId, result: 1 }),
      postJson(`${b.url}/sessions/${touched.id}/tool-result`, { callId: touched.callId, result: 2 }),
    ]);
    expect(answers.map((r) => r.status)).toEqual([409, 409]);
    const infos = await Promise.all([json(fetch(`${a.url}/sessions/${touched.id}`)), json(fetch(`${b.url}/sessions/${touched.id}`))]);
    for (const info of infos) expect(info).toMatchObject({ status: 'error', errorCode: 'SESSION_LOST' });
    expect(infos[0]).toEqual(infos[1]);
    const events = await readEvents(await fetch(`${a.url}/sessions/${touched.id}/events`));
    expect(events.filter((e) => e.type === 'final')).toHaveLength(1);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect((await postJson(`${b.url}/sessions/${touched.id}/tool-result`, { callId: touched.callId, result: 1 })).status).toBe(409);
    expect((await fetch(`${a.url}/sessions/${touched.id}`, { method: 'DELETE' })).status).toBe(200);
  });
});

describe('broker processes on Upstash act as one', () => {
  it('routes a tool result and a cancel from B to A, and B follows to final', async () => {
    const env = { STORE: 'upstash', UPSTASH_URL: bridge.url, UPSTASH_TOKEN: bridge.token };
    const [a, b] = await Promise.all([spawnBroker(env), spawnBroker(env)]);

    const first = await waitingSession(a.url);
    const follower = eventReader(await fetch(`${b.url}/sessions/${first.id}/events`));
    expect(await readUntil(follower, isClientCall)).toEqual(first.seen);
    expect((await postJson(`${b.url}/sessions/${first.id}/tool-result`, { callId: first.callId, result: 'up' })).status).toBe(200);
    const onA = await first.reader.rest();
    expect(finalOf(onA)).toMatchObject({ ok: true, result: 'up' });
    expect(await follower.rest()).toEqual(onA);

    const second = await waitingSession(a.url);
    expect((await fetch(`${b.url}/sessions/${second.id}`, { method: 'DELETE' })).status).toBe(200);
    expect(finalOf(await second.reader.rest()).error?.code).toBe('CANCELLED');
    expect(await json(fetch(`${b.url}/sessions/${second.id}`))).toMatchObject({ status: 'error', errorCode: 'CANCELLED' });
  });
});
