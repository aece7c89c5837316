import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { eventReader, finalOf, postJson, readEvents } from '../helpers/broker.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { RedisCluster } from '../helpers/redis-cluster.js';
import { RedisServer } from '../helpers/redis-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

// Faults of the store and of the processes around one session, each against real
// redis-server processes and broker processes. In every case the session runs in one process
// at a time: each seq appears once and in order in the store and in every reader's stream,
// `final` once and last, no journaled server tool runs twice, and the client gets the right
// result.

const LEASE_MS = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two journaled server calls (each counts its runs per callId), then a client call. */
const CODE = `
const a = await callTool("once", { v: 1 });
const b = await callTool("once", { v: 2 });
const answer = await callTool("ask", { q: 1 });
return { a, b, answer };
`;
const RESULT = (answer: unknown) => ({ a: { v: 1, runs: 1 }, b: { v: 2, runs: 1 }, answer });

let counts: RedisServer;
const processes: BrokerProcess[] = [];
const servers: RedisServer[] = [];
const proxies: TcpProxy[] = [];
const clients: Redis[] = [];

beforeAll(async () => {
  counts = await RedisServer.start();
});

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill().catch(() => {})));
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await counts?.stop();
});

async function redisServer(): Promise<RedisServer> {
  const s = await RedisServer.start();
  servers.push(s);
  return s;
}

function client(url: string): Redis {
  const c = new Redis(url);
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** A broker process on the Redis at `redisUrl`, or on the cluster `{ cluster }`. */
async function broker(redisUrl: string | { cluster: RedisCluster }, env: Record<string, string> = {}): Promise<BrokerProcess> {
  const p = await startBrokerProcess({
    STORE: 'redis',
    ...(typeof redisUrl === 'string' ? { REDIS_URL: redisUrl } : { REDIS_CLUSTER: redisUrl.cluster.spec }),
    COUNT_URL: counts.url,
    OWNER_LEASE_MS: String(LEASE_MS),
    ...env,
  });
  processes.push(p);
  return p;
}

const isAsk = (e: StreamEvent) => e.type === 'tool_call' && e.payload.toolName === 'ask';

/** Starts CODE on `url`: the session id, the creating stream (read up to the client call) and the call id. */
async function startSession(url: string) {
  const res = await postJson(`${url}/execute`, { code: CODE });
  expect(res.status).toBe(200);
  const id = res.headers.get('x-session-id')!;
  const reader = eventReader(res);
  const seen = await reader.readUntil(isAsk);
  const call = seen.at(-1)!;
  if (call.type !== 'tool_call') throw new Error('no client call');
  return { id, reader, seen, callId: call.payload.callId };
}

/** A reader on `url` from the start, read up to the client call. */
async function follow(url: string, id: string) {
  const reader = eventReader(await fetch(`${url}/sessions/${id}/events?after=0`));
  const seen = await reader.readUntil(isAsk);
  return { reader, seen };
}

/** Posts the answer to `url` until it is taken (404 and 503 only while the store recovers). */
async function answer(url: string, id: string, callId: string, result: unknown): Promise<number[]> {
  const statuses: number[] = [];
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await postJson(`${url}/sessions/${id}/tool-result`, { callId, result });
    await res.body?.cancel().catch(() => {});
    statuses.push(res.status);
    if (res.status === 200 || Date.now() > deadline || (res.status !== 404 && res.status !== 503)) return statuses;
    await sleep(50);
  }
}

async function until(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

const active = async (p: BrokerProcess): Promise<number> => (await (await fetch(`${p.url}/health`)).json()).sessions.active;

/** A whole stream of one session: seqs 1..n each once, in order, and `final` once and last. */
function expectWhole(log: StreamEvent[]): void {
  expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
  expect(log.filter((e) => e.type === 'final')).toHaveLength(1);
  expect(log.at(-1)!.type).toBe('final');
  expect(log.filter((e) => e.type === 'error')).toHaveLength(0);
}

/** The stored log (read through `url` once the session ended) and every reader's stream agree. */
async function expectConsistent(url: string, id: string, streams: StreamEvent[][], result: unknown): Promise<StreamEvent[]> {
  const stored = await readEvents(await fetch(`${url}/sessions/${id}/events?after=0`));
  expectWhole(stored);
  expect(finalOf(stored)).toMatchObject({ ok: true, result });
  for (const stream of streams) expect(stream).toEqual(stored);
  const info = await (await fetch(`${url}/sessions/${id}`)).json();
  expect(info).toMatchObject({ status: 'completed' });
  return stored;
}

describe('one owner per session under faults (Redis, processes, network)', () => {
  it('Redis restarted without persistence: the owner writes the session back, nothing else resumes it, answers posted elsewhere reach it', async () => {
    const store = await redisServer();
    const [a, b, c] = await Promise.all([broker(store.url), broker(store.url), broker(store.url)]);
    const session = await startSession(a.url);
    const onB = await follow(b.url, session.id);

    await store.restart();
    // Reads on C while the store is empty and A's lease is gone: they move nothing.
    const deadline = Date.now() + LEASE_MS * 2;
    while (Date.now() < deadline) {
      const res = await fetch(`${c.url}/sessions/${session.id}`);
      expect([200, 404, 503]).toContain(res.status);
      const body = await res.json();
      if (res.status === 200) expect(body).toMatchObject({ status: 'running' });
      await sleep(20);
    }
    expect(await active(c)).toBe(0);
    expect(await active(b)).toBe(0);
    expect(await active(a)).toBe(1);

    // A wrote the session back: an answer posted to C reaches it.
    const statuses = await answer(c.url, session.id, session.callId, 'after restart');
    expect(statuses).toEqual([200]);
    const onA = [...session.seen, ...(await session.reader.rest())];
    const followed = [...onB.seen, ...(await onB.reader.rest())];
    await expectConsistent(c.url, session.id, [onA, followed], RESULT('after restart'));
  });

  it('a replica promoted: the brokers go on on the new primary', async () => {
    const primary = await redisServer();
    const replica = await redisServer();
    // The replica loads the primary's data in memory (no dump.rdb in the working directory).
    await client(replica.url).config('SET', 'repl-diskless-load', 'swapdb');
    await client(replica.url).replicaof('127.0.0.1', primary.port);
    await until(async () => (await client(replica.url).info('replication')).includes('master_link_status:up'));
    // The brokers reach Redis through one address, moved to the new primary at the failover.
    const address = await TcpProxy.start(primary.port);
    proxies.push(address);
    const [a, b] = await Promise.all([broker(address.url), broker(address.url)]);
    const session = await startSession(a.url);
    const onB = await follow(b.url, session.id);

    // Everything written so far reached the replica.
    expect(await client(primary.url).wait(1, 5000)).toBe(1);
    await client(replica.url).replicaof('NO', 'ONE');
    address.retarget(replica.port);
    await primary.stop();

    const statuses = await answer(b.url, session.id, session.callId, 'promoted');
    expect(statuses.at(-1)).toBe(200);
    const onA = [...session.seen, ...(await session.reader.rest())];
    const followed = [...onB.seen, ...(await onB.reader.rest())];
    await expectConsistent(b.url, session.id, [onA, followed], RESULT('promoted'));
    expect(await active(a)).toBe(0);
  });

  it('the owner paused past its lease: another process takes over, and the old owner writes nothing after it resumes', async () => {
    const store = await redisServer();
    // A writes a heartbeat every 100 ms: resumed, it tries to write at once.
    const a = await broker(store.url, { HEARTBEAT_MS: '100' });
    const b = await broker(store.url);
    const session = await startSession(a.url);
    const onB = await follow(b.url, session.id);

    a.child.kill('SIGSTOP');
    try {
      await until(async () => (await active(b)) === 1);
      const statuses = await answer(b.url, session.id, session.callId, 'taken over');
      expect(statuses).toEqual([200]);
      const followed = [...onB.seen, ...(await onB.reader.rest())];
      expect(finalOf(followed)).toMatchObject({ ok: true, result: RESULT('taken over') });
    } finally {
      a.child.kill('SIGCONT');
    }
    // A learns it lost the session on its first write and stops its copy.
    await until(async () => (await active(a)) === 0);
    // Several of A's heartbeat intervals: it writes nothing more.
    await sleep(500);
    const onA = [...session.seen, ...(await session.reader.rest())];
    const stored = await expectConsistent(b.url, session.id, [onA], RESULT('taken over'));
    expect(await client(store.url).zcard(`enclave:{${session.id}}:events`)).toBe(stored.length);
  });

  it('the owner paused while a server tool runs: after it resumes, it calls no further tool', async () => {
    const store = await redisServer();
    const [a, b] = await Promise.all([broker(store.url), broker(store.url)]);
    const code =
      'const a = await callTool("once", { v: 1 }); const s = await callTool("slow", { ms: 1500 }); const b = await callTool("once", { v: 2 }); return { a, s, b }';
    const res = await postJson(`${a.url}/execute`, { code });
    const id = res.headers.get('x-session-id')!;
    const onA = eventReader(res);
    const seenA = await onA.readUntil((e) => e.type === 'tool_call' && e.payload.toolName === 'slow');
    const onB = eventReader(await fetch(`${b.url}/sessions/${id}/events?after=0`));
    const seenB = await onB.readUntil((e) => e.type === 'tool_call' && e.payload.toolName === 'slow');
    // Paused while `slow` runs on A: B takes over and runs the session to its end.
    a.child.kill('SIGSTOP');
    let followed: StreamEvent[];
    try {
      await until(async () => (await active(b)) === 1);
      followed = [...seenB, ...(await onB.rest())];
    } finally {
      a.child.kill('SIGCONT');
    }
    const result = { a: { v: 1, runs: 1 }, s: 'slow', b: { v: 2, runs: 1 } };
    expect(finalOf(followed)).toMatchObject({ ok: true, result });
    // A's `slow` answers once A runs again: A learns it lost the session before it calls `once` again.
    await until(async () => (await active(a)) === 0);
    await sleep(500);
    const streamA = [...seenA, ...(await onA.rest())];
    await expectConsistent(b.url, id, [streamA, followed], result);
    const second = followed.filter((e) => e.type === 'tool_call' && e.payload.toolName === 'once')[1]!;
    if (second.type !== 'tool_call') throw new Error('no second call');
    expect(await client(counts.url).get(`once:${second.payload.callId}`)).toBe('1');
  });

  it('the owner killed: the session resumes on another process and no journaled server tool runs again', async () => {
    const store = await redisServer();
    const [a, b] = await Promise.all([broker(store.url), broker(store.url)]);
    const session = await startSession(a.url);
    const onB = await follow(b.url, session.id);
    await a.kill();
    const statuses = await answer(b.url, session.id, session.callId, 'after kill');
    expect(statuses).toEqual([200]);
    const followed = [...onB.seen, ...(await onB.reader.rest())];
    await expectConsistent(b.url, session.id, [followed], RESULT('after kill'));
    // The creating stream, cut at the kill, saw a prefix of the same log.
    expect(followed.slice(0, session.seen.length)).toEqual(session.seen);
  });

  it('the network cut between the owner and Redis: another process takes over, the old owner stops and its reader goes on from the store', async () => {
    const store = await redisServer();
    const cable = await TcpProxy.start(store.port);
    proxies.push(cable);
    const a = await broker(cable.url, { HEARTBEAT_MS: '100' });
    const b = await broker(store.url);
    const session = await startSession(a.url);
    const onB = await follow(b.url, session.id);

    cable.cut();
    await until(async () => (await active(b)) === 1);
    const statuses = await answer(b.url, session.id, session.callId, 'cut off');
    expect(statuses).toEqual([200]);
    const followed = [...onB.seen, ...(await onB.reader.rest())];
    expect(finalOf(followed)).toMatchObject({ ok: true, result: RESULT('cut off') });

    cable.heal();
    await until(async () => (await active(a)) === 0);
    const onA = [...session.seen, ...(await session.reader.rest())];
    const stored = await expectConsistent(b.url, session.id, [onA, followed], RESULT('cut off'));
    expect(await client(store.url).zcard(`enclave:{${session.id}}:events`)).toBe(stored.length);
  });
});

describe('one owner per session on a Redis Cluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
  }, 60_000);
  afterAll(() => cluster?.stop());

  it('the owner paused past its lease, then killed: the session goes on elsewhere, once', async () => {
    const on = { cluster };
    const a = await broker(on, { HEARTBEAT_MS: '100' });
    const [b, c] = await Promise.all([broker(on), broker(on)]);
    const session = await startSession(a.url);
    const onB = await follow(b.url, session.id);

    a.child.kill('SIGSTOP');
    try {
      await until(async () => (await active(b)) === 1);
    } finally {
      a.child.kill('SIGCONT');
    }
    await until(async () => (await active(a)) === 0);
    // B, the owner now, is killed too: C resumes the session when the answer reaches it.
    await b.kill();
    const statuses = await answer(c.url, session.id, session.callId, 'on the cluster');
    expect(statuses).toEqual([200]);
    const onA = [...session.seen, ...(await session.reader.rest())];
    await until(async () => (await (await fetch(`${c.url}/sessions/${session.id}`)).json()).status === 'completed');
    const stored = await expectConsistent(c.url, session.id, [onA], RESULT('on the cluster'));
    expect(onB.seen).toEqual(stored.slice(0, onB.seen.length));
  });
});
