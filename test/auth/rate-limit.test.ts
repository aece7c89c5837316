import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RateLimitRequest } from '../../src/http/types.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import { eventReader, execute, finalOf, postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';

const servers: TestServer[] = [];
async function start(...args: Parameters<typeof startBroker>) {
  const s = await startBroker(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A GET from another loopback source address (Linux routes all of 127/8 to lo). */
function getFrom(localAddress: string, url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { localAddress, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function rateHeaders(res: Response) {
  return {
    limit: res.headers.get('ratelimit-limit'),
    remaining: res.headers.get('ratelimit-remaining'),
    reset: res.headers.get('ratelimit-reset'),
  };
}

describe('rate limiting', () => {
  it('counts every route, with RateLimit headers on success and error answers, then answers 429', async () => {
    const s = await start({ rateLimiting: { windowMs: 60_000, maxRequests: 6 } });
    const answers: Response[] = [];
    answers.push(await postJson(`${s.url}/execute`, { code: 'return 1' })); // 200
    answers.push(await fetch(`${s.url}/sessions/s_missing`)); // 404
    answers.push(await postJson(`${s.url}/execute`, '{not json')); // 400
    answers.push(await fetch(`${s.url}/execute`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })); // 415
    answers.push(await fetch(`${s.url}/no/such/route`)); // 404 (no route)
    answers.push(await fetch(`${s.url}/sessions`)); // 200
    expect(answers.map((r) => r.status)).toEqual([200, 404, 400, 415, 404, 200]);
    answers.forEach((res, i) => {
      const h = rateHeaders(res);
      expect(h.limit, `answer ${i}`).toBe('6');
      expect(h.remaining, `answer ${i}`).toBe(String(5 - i));
      expect(Number(h.reset)).toBeGreaterThan(0);
      expect(Number(h.reset)).toBeLessThanOrEqual(60);
    });
    await Promise.all(answers.map((r) => r.body?.cancel()));

    const limited = await postJson(`${s.url}/execute`, { code: 'return 1' });
    expect(limited.status).toBe(429);
    expect(await limited.json()).toEqual({ error: { code: 'RATE_LIMITED', message: expect.any(String) } });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(rateHeaders(limited)).toMatchObject({ limit: '6', remaining: '0' });
    // /health and OPTIONS are not counted and still answer.
    const health = await fetch(`${s.url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get('ratelimit-limit')).toBeNull();
    const preflight = await fetch(`${s.url}/execute`, { method: 'OPTIONS', headers: { origin: 'https://x.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
  });

  it('/health and OPTIONS never use up the window', async () => {
    const s = await start({ rateLimiting: { windowMs: 60_000, maxRequests: 2 } });
    for (let i = 0; i < 5; i++) {
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      expect(
        (await fetch(`${s.url}/sessions`, { method: 'OPTIONS', headers: { origin: 'https://x.example', 'access-control-request-method': 'GET' } })).status,
      ).toBe(204);
    }
    const res = await fetch(`${s.url}/sessions`);
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-remaining')).toBe('1');
  });

  it('runs the reference keyGenerator as written, with the real client address as req.ip', async () => {
    const seen: RateLimitRequest[] = [];
    const s = await start({
      rateLimiting: {
        windowMs: 60000,
        maxRequests: 2,
        keyGenerator: (req) => (seen.push(req), req.headers['x-api-key'] || req.ip),
      },
    });
    const get = (headers: Record<string, string> = {}) => fetch(`${s.url}/sessions`, { headers });
    expect((await get({ 'X-API-Key': 'k1' })).status).toBe(200);
    expect((await get({ 'X-API-Key': 'k1' })).status).toBe(200);
    expect((await get({ 'X-API-Key': 'k1' })).status).toBe(429);
    // Another key and the bare address have windows of their own.
    expect((await get({ 'X-API-Key': 'k2' })).status).toBe(200);
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(200);
    expect((await get()).status).toBe(429);
    expect(seen[0]!.headers['x-api-key']).toBe('k1');
    expect(seen.at(-1)!.ip).toBe('127.0.0.1');
    expect(seen.at(-1)!.method).toBe('GET');
    expect(seen.at(-1)!.url).toBe(`${s.url}/sessions`);
    expect(seen.at(-1)!.raw).toBeInstanceOf(Request);
  });

  it('ignores X-Forwarded-For for the default key on Node (the socket address counts)', async () => {
    const s = await start({ rateLimiting: { windowMs: 60000, maxRequests: 1 } });
    expect((await fetch(`${s.url}/sessions`, { headers: { 'x-forwarded-for': '10.0.0.1' } })).status).toBe(200);
    expect((await fetch(`${s.url}/sessions`, { headers: { 'x-forwarded-for': '10.0.0.2' } })).status).toBe(429);
  });

  it('keys on the tenant, else the user, by default', async () => {
    const identities: Record<string, { userId: string; tenantId?: string }> = {
      a1: { userId: 'a1', tenantId: 'A' },
      a2: { userId: 'a2', tenantId: 'A' },
      b: { userId: 'b', tenantId: 'B' },
      solo: { userId: 'solo' },
      solo2: { userId: 'solo2' },
    };
    const s = await start({
      authentication: { type: 'api-key', validate: async (k) => ({ valid: k in identities, ...identities[k] }) },
      rateLimiting: { windowMs: 60000, maxRequests: 2 },
    });
    const get = (key: string) => fetch(`${s.url}/sessions`, { headers: { 'x-api-key': key } });
    expect((await get('a1')).status).toBe(200);
    expect((await get('a2')).status).toBe(200);
    expect((await get('a1')).status).toBe(429); // same tenant, one window
    expect((await get('b')).status).toBe(200);
    expect((await get('solo')).status).toBe(200);
    expect((await get('solo')).status).toBe(200);
    expect((await get('solo')).status).toBe(429);
    expect((await get('solo2')).status).toBe(200);
  });

  // The conformance suite checks the part every runtime shares (guardedConformance); this one
  // also checks that validate is not called once the address is over, and that another address is not.
  it('counts refused credentials against the client address', async () => {
    let validations = 0;
    const s = await start({
      authentication: { type: 'bearer', validate: async (t) => (validations++, { valid: t === 'good', userId: 'u' }) },
      rateLimiting: { windowMs: 60000, maxRequests: 3 },
    });
    const answers: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${s.url}/sessions`, { headers: { authorization: `Bearer guess-${i}` } });
      answers.push(res.status);
      expect(res.headers.get('ratelimit-remaining')).toBe(String(2 - i));
    }
    const blocked = await fetch(`${s.url}/sessions`, { headers: { authorization: 'Bearer guess-x' } });
    expect(answers).toEqual([401, 401, 401]);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
    // Guesses past the window are refused before validate runs, even a right one.
    expect((await fetch(`${s.url}/sessions`, { headers: { authorization: 'Bearer good' } })).status).toBe(429);
    expect(validations).toBe(3);
    // Another client address is not affected.
    const other = await getFrom('127.0.0.2', `${s.url}/sessions`, { authorization: 'Bearer good' });
    expect(other.status).toBe(200);
    expect(validations).toBe(4);
  });
});

describe('maxConcurrentSessions', () => {
  it('answers 503 TOO_MANY_SESSIONS with Retry-After, and finished sessions do not count', async () => {
    const s = await start({ maxConcurrentSessions: 2, limits: { heartbeatIntervalMs: 60_000 } });
    // Sessions that ran to completion leave no trace against the limit.
    for (let round = 0; round < 3; round++) {
      const finals = await Promise.all([1, 2].map(() => execute(s.url, { code: 'await new Promise(r => setTimeout(r, 5)); return 1' })));
      for (const events of finals) expect(finalOf(events).ok).toBe(true);
    }
    // Failed and cancelled ones neither.
    expect(finalOf(await execute(s.url, { code: 'throw new Error("x")' })).ok).toBe(false);
    expect(finalOf(await execute(s.url, { code: 'while(true){}', timeout: 50 })).error?.code).toBe('TIMEOUT');

    const open = await Promise.all(
      [1, 2].map(async () => {
        const res = await postJson(`${s.url}/execute`, { code: 'return await callTool("client:wait", {})' });
        const reader = eventReader(res);
        const call = (await reader.until('tool_call')) as Extract<StreamEvent, { type: 'tool_call' }>;
        return { id: res.headers.get('x-session-id')!, callId: call.payload.callId, reader };
      }),
    );
    expect((await (await fetch(`${s.url}/health`)).json()).sessions.active).toBe(2);
    const refused = await postJson(`${s.url}/execute`, { code: 'return 1' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.json()).toEqual({ error: { code: 'TOO_MANY_SESSIONS', message: expect.any(String) } });

    await postJson(`${s.url}/sessions/${open[0]!.id}/tool-result`, { callId: open[0]!.callId, result: 1 });
    await fetch(`${s.url}/sessions/${open[1]!.id}`, { method: 'DELETE' });
    for (const o of open) await o.reader.until('final');
    const again = await Promise.all([1, 2].map(() => postJson(`${s.url}/execute`, { code: 'return 5' })));
    expect(again.map((r) => r.status)).toEqual([200, 200]);
    for (const r of again) expect(finalOf(await readEvents(r)).result).toBe(5);
  });
});

afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
