// A session resumed on another process after its owner died logs one warning, naming the
// stopped owner (it used to log two near-identical ones).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { eventReader, finalOf, postJson } from '../helpers/broker.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { RedisServer } from '../helpers/redis-server.js';

const LEASE_MS = 600;
let redis: RedisServer;
let client: Redis;
const processes: BrokerProcess[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  client = new Redis(redis.url);
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop().catch(() => {})));
  client?.disconnect();
  await redis?.stop();
});

describe('resuming a session whose owner died', () => {
  it('logs one warning with the stopped owner', async () => {
    const env = { STORE: 'redis', REDIS_URL: redis.url, OWNER_LEASE_MS: String(LEASE_MS), GRACE_MS: '30000', LOG_WARNINGS: '1' };
    const [a, b] = await Promise.all([startBrokerProcess(env), startBrokerProcess(env)]);
    processes.push(a, b);
    const res = await postJson(`${a.url}/execute`, { code: 'return await callTool("client:ask", {})' });
    const id = res.headers.get('x-session-id')!;
    const seen = await eventReader(res).readUntil((e: StreamEvent) => e.type === 'tool_call');
    const call = seen.at(-1)!;
    if (call.type !== 'tool_call') throw new Error('no tool call');
    await a.kill();
    while ((await client.exists(`enclave:lease:${a.instanceId}`)) === 1) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, LEASE_MS / 2));

    const follower = eventReader(await fetch(`${b.url}/sessions/${id}/events`));
    const posted = await postJson(`${b.url}/sessions/${id}/tool-result`, { callId: call.payload.callId, result: 'yes' });
    expect(posted.status).toBe(200);
    expect(finalOf(await follower.rest())).toMatchObject({ ok: true, result: 'yes' });

    const warnings = b.warnings().filter((l) => l.sessionId === id && /resum/.test(l.msg));
    expect(warnings).toEqual([{ level: 'warn', msg: 'resuming a session: its owner stopped', sessionId: id, owner: a.instanceId }]);
  });
});
