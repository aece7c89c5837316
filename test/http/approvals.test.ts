import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { eventReader, finalOf, postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';
import { startBrokerProcess, type BrokerProcess } from '../helpers/broker-process.js';
import { RedisServer } from '../helpers/redis-server.js';
import { UpstashBridge } from '../helpers/upstash-bridge.js';

// POST /sessions/:id/approvals: the same rules as tool results (tenancy, 404, 409, 400), and
// routed to the session's owner, or to the process that resumes it, with a shared store.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KEYS: Record<string, { userId: string; tenantId: string }> = {
  a: { userId: 'alice', tenantId: 'A' },
  b: { userId: 'bob', tenantId: 'B' },
};
const as = (key: string) => ({ 'x-api-key': key });
type Approval = Extract<StreamEvent, { type: 'approval_required' }>;

describe('POST /sessions/:id/approvals', () => {
  let server: TestServer;
  const runs: number[] = [];
  beforeAll(async () => {
    const tools = new ToolRegistry();
    tools.register({
      name: 'transfer',
      description: 'Moves money',
      parameters: { amount: { type: 'number', description: 'how much', required: true } },
      needsApproval: true,
      handler: async (args) => {
        runs.push(args.amount as number);
        return `moved ${args.amount}`;
      },
    });
    server = await startBroker({
      tools,
      authentication: { type: 'api-key', validate: async (key) => (KEYS[key] ? { valid: true, ...KEYS[key] } : { valid: false }) },
      limits: { heartbeatIntervalMs: 60_000 },
    });
  });
  afterAll(() => server.close());

  async function waiting(code = 'return await callTool("transfer", { amount: 10 })') {
    const res = await postJson(`${server.url}/execute`, { code }, as('a'));
    expect(res.status).toBe(200);
    const reader = eventReader(res);
    const asked = (await reader.until('approval_required')) as Approval;
    return { id: res.headers.get('x-session-id')!, callId: asked.payload.callId, asked, reader };
  }
  const approve = (id: string, body: unknown, key = 'a') => postJson(`${server.url}/sessions/${id}/approvals`, body, as(key));

  it('approve: 200 { success: true }, then the handler runs and its result flows', async () => {
    runs.length = 0;
    const { id, callId, asked, reader } = await waiting();
    expect(asked.payload).toEqual({ callId, toolName: 'transfer', args: { amount: 10 } });
    expect(runs).toEqual([]);
    const res = await approve(id, { callId, approve: true });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true });
    const rest = await reader.rest();
    expect(finalOf(rest)).toMatchObject({ ok: true, result: 'moved 10' });
    expect(runs).toEqual([10]);
    // Answered already (and the session ended): 409.
    const again = await approve(id, { callId, approve: false });
    expect(again.status).toBe(409);
    expect((await again.json()).error.code).toBe('CONFLICT');
  });

  it('reject: the guest catches TOOL_APPROVAL_DENIED with the reason', async () => {
    runs.length = 0;
    const { id, callId, reader } = await waiting('try { await callTool("transfer", { amount: 99 }) } catch (e) { return [e.code, e.message] }');
    expect((await approve(id, { callId, approve: false, reason: 'over the limit' })).status).toBe(200);
    expect(finalOf(await reader.rest()).result).toEqual(['TOOL_APPROVAL_DENIED', 'over the limit']);
    expect(runs).toEqual([]);
  });

  it('404 for another tenant, an unknown session or call; 409 for a second answer; 400 for bad bodies', async () => {
    const { id, callId, reader } = await waiting();
    const status = async (res: Response) => [res.status, ((await res.json()) as { error?: { code: string } }).error?.code];
    expect(await status(await approve(id, { callId, approve: true }, 'b'))).toEqual([404, 'NOT_FOUND']);
    expect(await status(await approve('s_unknown', { callId, approve: true }))).toEqual([404, 'NOT_FOUND']);
    expect(await status(await approve('not-an-id', { callId, approve: true }))).toEqual([404, 'NOT_FOUND']);
    expect(await status(await approve(id, { callId: 'c_unknown', approve: true }))).toEqual([404, 'NOT_FOUND']);
    expect(await status(await approve(id, { callId }))).toEqual([400, 'VALIDATION_ERROR']);
    expect(await status(await approve(id, { callId, approve: 'yes' }))).toEqual([400, 'VALIDATION_ERROR']);
    expect(await status(await approve(id, { callId: '', approve: true }))).toEqual([400, 'VALIDATION_ERROR']);
    expect(await status(await approve(id, { callId, approve: false, reason: 7 }))).toEqual([400, 'VALIDATION_ERROR']);
    expect(await status(await approve(id, '{"callId":'))).toEqual([400, 'VALIDATION_ERROR']);
    const noKey = await postJson(`${server.url}/sessions/${id}/approvals`, { callId, approve: true });
    expect(noKey.status).toBe(401);
    // Nothing of that decided anything: the call still waits; two answers at once, one wins.
    const both = await Promise.all([approve(id, { callId, approve: true }), approve(id, { callId, approve: false })]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(finalOf(await reader.rest())).toBeDefined();
  });

  it('approval_required can be left out of the stream with a filter', async () => {
    const res = await postJson(
      `${server.url}/execute`,
      { code: 'return await callTool("transfer", { amount: 1 })', filter: { blockedTypes: ['approval_required'] } },
      as('a'),
    );
    const id = res.headers.get('x-session-id')!;
    const reader = eventReader(res);
    const call = await reader.until('tool_call');
    if (call.type !== 'tool_call') throw new Error('no call');
    // The event is stored (replay shows it); the filtered stream does not carry it.
    let replayed: StreamEvent[] = [];
    for (let i = 0; i < 500 && !replayed.some((e) => e.type === 'approval_required'); i++) {
      const r = await fetch(`${server.url}/sessions/${id}/events?types=approval_required`, { headers: as('a') });
      const replay = eventReader(r);
      replayed = [await replay.next()];
      await replay.close();
      await r.body?.cancel().catch(() => {});
    }
    expect(replayed[0]).toMatchObject({ type: 'approval_required', payload: { callId: call.payload.callId } });
    expect((await approve(id, { callId: call.payload.callId, approve: true })).status).toBe(200);
    const rest = await reader.rest();
    expect(rest.map((e) => e.type)).toEqual(['tool_result_applied', 'final']);
  });
});

describe('approvals with broker processes on one Redis', () => {
  const LEASE_MS = 600;
  let redis: RedisServer;
  let client: Redis;
  let bridge: UpstashBridge;
  const processes: BrokerProcess[] = [];
  const spawn = async (env: Record<string, string> = {}) => {
    const p = await startBrokerProcess({ STORE: 'redis', REDIS_URL: redis.url, OWNER_LEASE_MS: String(LEASE_MS), ...env });
    processes.push(p);
    return p;
  };
  beforeAll(async () => {
    redis = await RedisServer.start();
    client = new Redis(redis.url);
    bridge = await UpstashBridge.start(redis.url);
  });
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop().catch(() => {})));
    await bridge?.stop();
    client?.disconnect();
    await redis?.stop();
  });

  /** Waits until `owner`'s lease is gone from Redis (plus the time a process trusts an alive answer). */
  async function leaseLapsed(owner: BrokerProcess) {
    while ((await client.exists(`enclave:lease:${owner.instanceId}`)) === 1) await sleep(50);
    await sleep(LEASE_MS / 2);
  }

  const start = async (url: string, code: string) => {
    const res = await postJson(`${url}/execute`, { code });
    expect(res.status).toBe(200);
    return { id: res.headers.get('x-session-id')!, reader: eventReader(res) };
  };
  const decide = (url: string, id: string, body: unknown) => postJson(`${url}/sessions/${id}/approvals`, body);

  it('a decision sent to another process reaches the owner; a second one is 409 on either', async () => {
    const [a, b] = await Promise.all([spawn(), spawn()]);
    const { id, reader } = await start(a.url, 'return await callTool("guarded", { v: 1 })');
    const asked = (await reader.until('approval_required')) as Approval;
    const { callId } = asked.payload;
    expect((await decide(b.url, id, { callId: 'c_nope', approve: true })).status).toBe(404);
    expect((await decide(b.url, id, { callId, approve: true })).status).toBe(200);
    expect((await decide(b.url, id, { callId, approve: true })).status).toBe(409);
    expect((await decide(a.url, id, { callId, approve: false })).status).toBe(409);
    const rest = await reader.rest();
    expect(finalOf(rest)).toMatchObject({ ok: true, result: { v: 1, runs: 1 } });
  });

  it('on Upstash too: a decision sent to another process reaches the owner, once', async () => {
    const env = { STORE: 'upstash', UPSTASH_URL: bridge.url, UPSTASH_TOKEN: bridge.token };
    const [a, b] = await Promise.all([spawn(env), spawn(env)]);
    const { id, reader } = await start(a.url, 'try { await callTool("guarded", { v: 5 }) } catch (e) { return [e.code, e.message] }');
    const asked = (await reader.until('approval_required')) as Approval;
    const both = await Promise.all([
      decide(b.url, id, { callId: asked.payload.callId, approve: false, reason: 'from B' }),
      decide(a.url, id, { callId: asked.payload.callId, approve: false, reason: 'from A' }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = both[0]!.status === 200 ? 'from B' : 'from A';
    expect(finalOf(await reader.rest()).result).toEqual(['TOOL_APPROVAL_DENIED', winner]);
  });

  it('a session waiting for approval survives its owner: the next process asks no second time and applies the decision', async () => {
    const [a, b] = await Promise.all([spawn(), spawn()]);
    const code = `
      const first = await callTool("guarded", { v: 1 });
      const second = await callTool("guarded", { v: 2 });
      return [first, second];`;
    const { id, reader } = await start(a.url, code);
    const firstAsk = (await reader.until('approval_required')) as Approval;
    expect((await decide(a.url, id, { callId: firstAsk.payload.callId, approve: true })).status).toBe(200);
    const secondAsk = (await reader.until('approval_required')) as Approval;
    expect(secondAsk.payload.args).toEqual({ v: 2 });
    await reader.close();
    await a.kill();
    await leaseLapsed(a);

    // B takes the session over (this POST finds the owner gone) and applies the decision.
    expect((await decide(b.url, id, { callId: secondAsk.payload.callId, approve: true })).status).toBe(200);
    const log = await readEvents(await fetch(`${b.url}/sessions/${id}/events`));
    expect(finalOf(log)).toMatchObject({
      ok: true,
      result: [
        { v: 1, runs: 1 },
        { v: 2, runs: 1 },
      ],
    });
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i + 1));
    expect(log.filter((e) => e.type === 'approval_required').map((e) => (e as Approval).payload.callId)).toEqual([
      firstAsk.payload.callId,
      secondAsk.payload.callId,
    ]);
    expect(await client.get(`guarded:${firstAsk.payload.callId}`)).toBe('1');
    expect(await client.get(`guarded:${secondAsk.payload.callId}`)).toBe('1');
  });

  it('an approval journaled before the owner died is honoured: the handler runs on the next process without asking', async () => {
    const a = await spawn({ HOLD: '1' });
    const b = await spawn();
    const { id, reader } = await start(a.url, 'return await callTool("guarded", { v: 0 })');
    const asked = (await reader.until('approval_required')) as Approval;
    // Approved on A, whose handler then holds: the approval is journaled, the result never comes.
    expect((await decide(a.url, id, { callId: asked.payload.callId, approve: true })).status).toBe(200);
    const follower = eventReader(await fetch(`${b.url}/sessions/${id}/events`));
    await follower.until('approval_required');
    await reader.close();
    await a.kill();
    // B's follower sees the lease lapse and resumes the session; the re-run finds the approval.
    const rest = await follower.rest();
    expect(finalOf(rest)).toMatchObject({ ok: true, result: { v: 0, runs: 1 } });
    expect(rest.some((e) => e.type === 'approval_required')).toBe(false);
    const log = await readEvents(await fetch(`${b.url}/sessions/${id}/events`));
    expect(log.filter((e) => e.type === 'approval_required')).toHaveLength(1);
    expect((await decide(b.url, id, { callId: asked.payload.callId, approve: true })).status).toBe(409);
  });

  it('a resumed session keeps its approval waits out of the execution timeout', async () => {
    const [a, b] = await Promise.all([spawn(), spawn()]);
    const res = await postJson(`${a.url}/execute`, { code: 'return await callTool("guarded:slow", {})', timeout: 1500 });
    const id = res.headers.get('x-session-id')!;
    const asked = (await eventReader(res).until('approval_required')) as Approval;
    const startedAt = asked.timestamp;
    await a.kill();
    await leaseLapsed(a);
    // Past the execution timeout: the wait does not count, on A nor on B.
    while (Date.now() < startedAt + 2000) await sleep(50);
    expect((await decide(b.url, id, { callId: asked.payload.callId, approve: true })).status).toBe(200);
    const log = await readEvents(await fetch(`${b.url}/sessions/${id}/events`));
    expect(finalOf(log)).toMatchObject({ ok: true, result: { runs: 1 } });
  });

  it('a decision taken by another process just as the owner dies is applied by the process that resumes', async () => {
    // A longer lease: B still takes A for alive when the decision arrives, claims it and journals it as mail.
    const a = await spawn({ OWNER_LEASE_MS: '3000' });
    const b = await spawn({ OWNER_LEASE_MS: '3000' });
    const { id, reader } = await start(a.url, 'return await callTool("guarded", { v: 3 })');
    const asked = (await reader.until('approval_required')) as Approval;
    // B learns that A is alive (it trusts that answer for a while).
    expect((await fetch(`${b.url}/sessions/${id}`)).status).toBe(200);
    await reader.close();
    await a.kill();
    expect((await decide(b.url, id, { callId: asked.payload.callId, approve: true })).status).toBe(200);
    // Once A's lease lapses, a reader on B resumes the session, which applies the journaled decision.
    const log = await readEvents(await fetch(`${b.url}/sessions/${id}/events`));
    expect(finalOf(log)).toMatchObject({ ok: true, result: { v: 3, runs: 1 } });
    expect(log.filter((e) => e.type === 'approval_required')).toHaveLength(1);
  });
});
