import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { eventReader, finalOf, postJson, readEvents } from '../helpers/broker.js';
import { MEMORY_BOMBS } from '../fixtures/memory-bombs.js';
import { GUARD } from './guard.js';

export { GUARD, guardAuthentication } from './guard.js';

export type Runtime = 'node' | 'bun' | 'workerd';

/**
 * What a runtime truly cannot do, in one place. Everything else runs the same on all.
 * - workerd: `GET /sessions` (listing) has no single Durable Object to ask: it answers 501.
 */
const CANNOT: Record<Runtime, { listSessions: boolean }> = {
  node: { listSessions: true },
  bun: { listSessions: true },
  workerd: { listSessions: false },
};

export interface Target {
  /** Origin plus mount prefix, e.g. `http://127.0.0.1:1234/enclave`. */
  url: string;
  close(): Promise<void>;
}

/** One request on a given `http.Agent`; tells whether it went out on a reused connection. */
function rawRequest(
  agent: http.Agent,
  method: string,
  url: string,
  body?: string,
  contentType = 'application/json',
  more: Record<string, string> = {},
): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { ...(body === undefined ? {} : { 'content-type': contentType }), ...more } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * POSTs to `url` with `headers` on a connection of its own, lets `send` write (or not) the
 * body, and answers the status and error code of the answer. A request error after the answer
 * started is ignored: the server may close once it has answered.
 */
function codedAnswer(url: string, headers: Record<string, string>, send: (req: http.ClientRequest) => void): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        req.destroy();
        try {
          resolve([res.statusCode ?? 0, (JSON.parse(text) as { error: { code: string } }).error.code]);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    send(req);
  });
}

/**
 * POSTs to `url` declaring a 3 MiB JSON body but sending none of it, on a connection of its
 * own, and reads the answer: a server that checks Content-Length answers at once. (Body bytes
 * the server never reads would turn its close into a reset that can race the answer.)
 */
function declaredTooLarge(url: string): Promise<[number, string]> {
  return codedAnswer(url, { 'content-length': String(3 * 1024 * 1024) }, (req) => req.flushHeaders());
}

/**
 * POSTs 3 MiB of JSON in chunks (no Content-Length) and answers the status and error code.
 * The server answers once the body passes its limit and may then close with bytes of ours
 * still unread: the kernel turns that close into a reset, which can reach us before the answer
 * and drop it (seen on workerd). A reset before any answer is tried again, twice at most; an
 * answer, when one comes, must still be the 413.
 */
async function streamedTooLarge(url: string): Promise<[number, string]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await streamOnce(url);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= 3 || (code !== 'ECONNRESET' && code !== 'EPIPE')) throw err;
    }
  }
}

function streamOnce(url: string): Promise<[number, string]> {
  return codedAnswer(url, { 'transfer-encoding': 'chunked' }, (req) => {
    const chunk = `"${'x'.repeat(64 * 1024 - 2)}"`;
    req.write('{"code":"return 1","context":{"pad":[');
    let sent = 0;
    const pump = () => {
      while (sent < 48) {
        sent++;
        if (!req.write(sent === 1 ? chunk : `,${chunk}`)) return void req.once('drain', pump);
      }
      req.end(']}}');
    };
    pump();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

/**
 * The HTTP conformance suite: every route, event order, error codes and limits, over plain
 * `fetch`. The target serves the example tools (`users:list`, `users:get`); other names go
 * to the client.
 */
export function conformance(runtime: Runtime, mount: string, start: () => Promise<Target>): void {
  describe(`conformance: ${runtime}${mount ? ` mounted at ${mount}` : ''}`, () => {
    let t: Target;
    let base: string;
    beforeAll(async () => {
      t = await start();
      base = t.url;
    });
    afterAll(() => t?.close());

    const run = async (body: Record<string, unknown>) => {
      const res = await postJson(`${base}/execute`, body);
      expect(res.status).toBe(200);
      return readEvents(res);
    };

    it('streams session_init then final, with envelopes and URLs under the mount', async () => {
      const res = await postJson(`${base}/execute`, { code: 'return 1 + 2' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('application/x-ndjson');
      const id = res.headers.get('x-session-id')!;
      expect(id).toMatch(/^s_/);
      const events = await readEvents(res);
      expect(events.map((e) => [e.type, e.seq])).toEqual([
        ['session_init', 1],
        ['final', 2],
      ]);
      for (const e of events) expect(e).toMatchObject({ protocolVersion: 2, sessionId: id });
      const init = events[0]!;
      if (init.type !== 'session_init') throw new Error('no init');
      expect(init.payload.toolResultUrl).toBe(`${mount}/sessions/${id}/tool-result`);
      expect(init.payload.replayUrl).toBe(`${mount}/sessions/${id}/events`);
      expect(init.payload.encryption).toEqual({ enabled: false });
      expect(init.payload.cancelUrl).toBe(`${mount}/sessions/${id}/cancel`);
      expect(finalOf(events)).toMatchObject({ ok: true, result: 3 });
    });

    it('runs server tools, console and timers in order', async () => {
      const events = await run({
        code: 'console.log("hi"); await new Promise((r) => setTimeout(r, 5)); const u = await callTool("users:get", { id: "2" }); return u.name',
      });
      expect(events.map((e) => e.type)).toEqual(['session_init', 'stdout', 'tool_call', 'tool_result_applied', 'final']);
      expect(events[2]!.payload).toMatchObject({ toolName: 'users:get', handler: 'server', args: { id: '2' } });
      expect(finalOf(events).result).toBe('Bob');
      const bad = finalOf(await run({ code: 'try { await callTool("users:get", {}) } catch (e) { return e.code }' }));
      expect(bad.result).toBe('TOOL_ARGS_INVALID');
    });

    it('streams while a client tool waits, takes its result by a second request, refuses a second answer', async () => {
      const res = await postJson(`${base}/execute`, { code: 'const v = await callTool("ask", { q: 1 }); return v * 2' });
      const id = res.headers.get('x-session-id')!;
      const reader = eventReader(res);
      expect((await reader.next()).type).toBe('session_init');
      const call = await reader.until('tool_call');
      expect(call.payload).toMatchObject({ toolName: 'ask', handler: 'client', args: { q: 1 } });
      const callId = (call.payload as { callId: string }).callId;
      const info = await (await fetch(`${base}/sessions/${id}`)).json();
      expect(info).toMatchObject({ id, status: 'running' });
      expect(typeof info.createdAt).toBe('number');
      const answer = await postJson(`${base}/sessions/${id}/tool-result`, { callId, result: 21 });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ success: true });
      const rest = await reader.rest();
      expect(rest.map((e) => e.type)).toEqual(['tool_result_applied', 'final']);
      expect(finalOf(rest).result).toBe(42);
      const again = await postJson(`${base}/sessions/${id}/tool-result`, { callId, result: 1 });
      expect(again.status).toBe(409);
      expect((await again.json()).error.code).toBe('CONFLICT');
      expect(await (await fetch(`${base}/sessions/${id}`)).json()).toMatchObject({ status: 'completed' });
    });

    it('passes a client error code through', async () => {
      const res = await postJson(`${base}/execute`, { code: 'try { await callTool("ask", {}) } catch (e) { return [e.code, e.message] }' });
      const id = res.headers.get('x-session-id')!;
      const reader = eventReader(res);
      const call = await reader.until('tool_call');
      const callId = (call.payload as { callId: string }).callId;
      const answer = await postJson(`${base}/sessions/${id}/tool-result`, { callId, error: { message: 'nope', code: 'E_NOPE' } });
      expect(answer.status).toBe(200);
      expect(finalOf(await reader.rest()).result).toEqual(['E_NOPE', 'nope']);
    });

    it('cancels with DELETE and with POST …/cancel', async () => {
      for (const how of ['DELETE', 'POST'] as const) {
        const res = await postJson(`${base}/execute`, { code: 'await callTool("wait", {})' });
        const id = res.headers.get('x-session-id')!;
        const reader = eventReader(res);
        await reader.until('tool_call');
        const cancelled = how === 'DELETE' ? await fetch(`${base}/sessions/${id}`, { method: 'DELETE' }) : await postJson(`${base}/sessions/${id}/cancel`, {});
        expect(cancelled.status).toBe(200);
        expect(await cancelled.json()).toEqual({ success: true });
        const rest = await reader.rest();
        expect(rest.map((e) => e.type).slice(-2)).toEqual(['error', 'final']);
        expect(finalOf(rest).error?.code).toBe('CANCELLED');
        expect(await (await fetch(`${base}/sessions/${id}`)).json()).toMatchObject({ status: 'error' });
        const late = await postJson(`${base}/sessions/${id}/tool-result`, { callId: 'c_x', result: 1 });
        expect(late.status).toBe(409);
      }
    });

    it('reads the body of POST …/cancel, so the keep-alive connection serves the next request', async () => {
      const res = await postJson(`${base}/execute`, { code: 'await callTool("wait", {})' });
      const id = res.headers.get('x-session-id')!;
      const reader = eventReader(res);
      await reader.until('tool_call');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await rawRequest(agent, 'POST', `${base}/sessions/${id}/cancel`, JSON.stringify({ reason: 'x'.repeat(4096) }));
        expect(first.status).toBe(200);
        // The server has had its chance to close the connection after answering.
        await reader.rest();
        await sleep(50);
        const second = await rawRequest(agent, 'GET', `${base}/sessions/${id}`);
        expect(second.status).toBe(200);
        expect(second.reused).toBe(true);
      } finally {
        agent.destroy();
      }
    });

    it('reads the body of a request refused before its route (415), so the keep-alive connection serves the next request', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await rawRequest(agent, 'POST', `${base}/execute`, 'x'.repeat(4096), 'text/plain');
        expect(first.status).toBe(415);
        await sleep(50);
        const second = await rawRequest(agent, 'GET', `${base}/health`);
        expect(second.status).toBe(200);
        expect(second.reused).toBe(true);
      } finally {
        agent.destroy();
      }
    });

    it('replays with ?after=, Last-Event-ID and the upstream /stream?fromSeq=', async () => {
      const res = await postJson(`${base}/execute`, { code: 'console.log(1); console.log(2); return 3' });
      const id = res.headers.get('x-session-id')!;
      const all = await readEvents(res);
      const seqs = (events: StreamEvent[]) => events.map((e) => e.seq);
      expect(seqs(await readEvents(await fetch(`${base}/sessions/${id}/events?after=1`)))).toEqual(seqs(all).slice(1));
      const byHeader = await fetch(`${base}/sessions/${id}/events`, { headers: { 'Last-Event-ID': '2' } });
      expect(seqs(await readEvents(byHeader))).toEqual(seqs(all).slice(2));
      expect(seqs(await readEvents(await fetch(`${base}/sessions/${id}/stream?fromSeq=2`)))).toEqual(seqs(all).slice(1));
      const bad = await fetch(`${base}/sessions/${id}/events?after=x`);
      expect(bad.status).toBe(400);
    });

    it('follows a live session on replay until final', async () => {
      const res = await postJson(`${base}/execute`, { code: 'console.log("a"); const v = await callTool("ask", {}); console.log("b"); return v' });
      const id = res.headers.get('x-session-id')!;
      const reader = eventReader(res);
      const call = await reader.until('tool_call');
      const follower = fetch(`${base}/sessions/${id}/events?after=0`).then(readEvents);
      await sleep(50);
      await postJson(`${base}/sessions/${id}/tool-result`, { callId: (call.payload as { callId: string }).callId, result: 'ok' });
      const followed = await follower;
      expect(followed.map((e) => e.type)).toEqual(['session_init', 'stdout', 'tool_call', 'tool_result_applied', 'stdout', 'final']);
      expect(finalOf(followed).result).toBe('ok');
      await reader.rest();
    });

    it('cancels a session whose client went away, after the grace', async () => {
      const controller = new AbortController();
      const res = await fetch(`${base}/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'await callTool("never", {})', limits: { heartbeatIntervalMs: 50, disconnectGraceMs: 200 } }),
        signal: controller.signal,
      });
      const id = res.headers.get('x-session-id')!;
      const reader = eventReader(res);
      await reader.until('tool_call');
      controller.abort();
      await until(async () => {
        const info = await (await fetch(`${base}/sessions/${id}`)).json();
        return info.status === 'error' ? info : undefined;
      });
      const events = await readEvents(await fetch(`${base}/sessions/${id}/events`));
      expect(finalOf(events).error?.code).toBe('CANCELLED');
    });

    it('creates sessions the upstream way with POST /sessions and a chosen id', async () => {
      const id = `s_conf${Math.random().toString(36).slice(2, 12)}`;
      const res = await postJson(`${base}/sessions`, { code: 'return context.x', sessionId: id, context: { x: 7 } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-session-id')).toBe(id);
      expect(finalOf(await readEvents(res)).result).toBe(7);
      const again = await postJson(`${base}/sessions`, { code: 'return 1', sessionId: id });
      expect(again.status).toBe(409);
      if (CANNOT[runtime].listSessions) {
        const list = await (await fetch(`${base}/sessions`)).json();
        expect(list.sessions.map((s: { id: string }) => s.id)).toContain(id);
      } else {
        expect((await fetch(`${base}/sessions`)).status).toBe(501);
      }
    });

    const failures: Array<[string, Record<string, unknown>]> = [
      ['SYNTAX_ERROR', { code: 'return (' }],
      ['RUNTIME_ERROR', { code: 'throw new Error("boom")' }],
      ['TIMEOUT', { code: 'while (true) {}', timeout: 200 }],
      ['TIMEOUT', { code: 'await callTool("slow", {})', timeout: 200 }],
      ['MEMORY_LIMIT', { code: 'let s = "x"; while (true) s += s', limits: { memoryLimitBytes: 16 * 1024 * 1024 } }],
      ['STACK_OVERFLOW', { code: 'const f = (n) => f(n + 1) + 1; return f(0)' }],
      ['MAX_TOOL_CALLS', { code: 'for (let i = 0; i < 3; i++) await callTool("users:list", {})', maxToolCalls: 2 }],
    ];
    for (const [expected, body] of failures) {
      it(`ends with ${expected}: ${String(body.code).slice(0, 40)}`, async () => {
        const events = await run(body);
        const final = finalOf(events);
        expect(final.ok).toBe(false);
        expect(final.error?.code).toBe(expected);
        expect(events.at(-2)?.type).toBe('error');
      });
    }

    // SPEC §6: the memory limit bounds a session's total, on every runtime (the corpus, at the
    // root mount only: the mount changes nothing of the sandbox).
    if (!mount) {
      for (const bomb of MEMORY_BOMBS) {
        it(`ends a memory bomb with MEMORY_LIMIT: ${bomb.name}`, async () => {
          const events = await run({ code: bomb.code, timeout: 20_000, limits: { memoryLimitBytes: 32 * 1024 * 1024 } });
          expect(finalOf(events).error?.code).toBe('MEMORY_LIMIT');
        });
      }
    }

    it('answers coded errors: 400, 415, 404, 413', async () => {
      const codeOf = async (res: Response) => [res.status, ((await res.json()) as { error: { code: string } }).error.code];
      expect(await codeOf(await postJson(`${base}/execute`, '{nope'))).toEqual([400, 'VALIDATION_ERROR']);
      expect(await codeOf(await postJson(`${base}/execute`, { code: 1 }))).toEqual([400, 'VALIDATION_ERROR']);
      expect(await codeOf(await fetch(`${base}/execute`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }))).toEqual([
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      ]);
      expect(await codeOf(await fetch(`${base}/sessions/s_doesnotexist0000000000`))).toEqual([404, 'NOT_FOUND']);
      expect(await codeOf(await postJson(`${base}/sessions/s_doesnotexist0000000000/tool-result`, { callId: 'c_1', result: 1 }))).toEqual([404, 'NOT_FOUND']);
      // Mounted, an unknown path is the outer app's business (its own 404).
      if (!mount) expect(await codeOf(await fetch(`${base}/no-such-route`))).toEqual([404, 'NOT_FOUND']);
      // Refused from Content-Length alone, before the body is read (each on its own connection).
      expect(await declaredTooLarge(`${base}/execute`)).toEqual([413, 'PAYLOAD_TOO_LARGE']);
      expect(await declaredTooLarge(`${base}/sessions/s_doesnotexist0000000000/cancel`)).toEqual([413, 'PAYLOAD_TOO_LARGE']);
      expect(await declaredTooLarge(`${base}/sessions`)).toEqual([413, 'PAYLOAD_TOO_LARGE']);
      // A body without Content-Length is refused once it passes the limit.
      expect(await streamedTooLarge(`${base}/sessions`)).toEqual([413, 'PAYLOAD_TOO_LARGE']);
      expect(await streamedTooLarge(`${base}/execute`)).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    });

    it('answers /health, /code/actions and CORS preflights', async () => {
      const health = await (await fetch(`${base}/health`)).json();
      expect(health).toMatchObject({ status: 'ok', sessions: { active: expect.any(Number), total: expect.any(Number) } });
      expect(typeof health.uptime).toBe('number');
      const actions = await (await fetch(`${base}/code/actions`)).json();
      expect(actions).toMatchObject({ actions: [], services: [], version: expect.any(String) });
      const preflight = await fetch(`${base}/execute`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      });
      expect(preflight.status).toBeLessThan(300);
      expect(preflight.headers.get('access-control-allow-origin')).toBeTruthy();
    });
  });
}

/**
 * Authentication and rate limiting, the same on every runtime: the target runs the example
 * tools with `guardAuthentication` and `rateLimiting: { windowMs, maxRequests }` of `GUARD`.
 * Requests with refused credentials count against the client (on Workers too, where the
 * Worker in front of the session objects authenticates and counts).
 */
export function guardedConformance(runtime: Runtime, start: () => Promise<Target>): void {
  describe(`conformance: ${runtime} with authentication and rate limiting`, () => {
    let t: Target;
    let base: string;
    beforeAll(async () => {
      t = await start();
      base = t.url;
    });
    afterAll(() => t?.close());
    const bearer = (token: string, more: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...more });

    it('serves valid credentials with RateLimit headers and the request id, and leaves /health open', async () => {
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
      expect(health.headers.get('ratelimit-limit')).toBeNull();
      await health.body?.cancel();
      const res = await fetch(`${base}/sessions/s_doesnotexist0000000000`, { headers: bearer(GUARD.token, { 'X-Request-Id': 'conformance-req-1' }) });
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe('NOT_FOUND');
      expect(res.headers.get('ratelimit-limit')).toBe(String(GUARD.maxRequests));
      expect(res.headers.get('ratelimit-remaining')).toBe(String(GUARD.maxRequests - 1));
      expect(res.headers.get('x-request-id')).toBe('conformance-req-1');
    });

    it('counts requests with refused credentials against the client, and refuses it before validate once over', async () => {
      for (let i = 0; i < GUARD.maxRequests; i++) {
        const res = await fetch(`${base}/sessions`, { headers: bearer(`guess-${i}`) });
        expect(res.status).toBe(401);
        expect((await res.json()).error.code).toBe('UNAUTHORIZED');
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(res.headers.get('ratelimit-remaining')).toBe(String(GUARD.maxRequests - 1 - i));
      }
      const blocked = await fetch(`${base}/sessions`, { headers: bearer('guess-x') });
      expect(blocked.status).toBe(429);
      expect((await blocked.json()).error.code).toBe('RATE_LIMITED');
      expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
      // The client is over its limit: even the right token is refused until the window ends.
      const right = await postJson(`${base}/execute`, { code: 'return 1' }, bearer(GUARD.token));
      expect(right.status).toBe(429);
      await right.body?.cancel();
    });

    it('reads the body of a request it refuses before authentication, so the keep-alive connection serves the next request', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        // The client is over its limit (the case above): refused before the route reads anything.
        const first = await rawRequest(agent, 'POST', `${base}/execute`, JSON.stringify({ code: 'x'.repeat(4096) }), 'application/json', bearer('guess-y'));
        expect(first.status).toBe(429);
        await sleep(50);
        const second = await rawRequest(agent, 'GET', `${base}/health`);
        expect(second.status).toBe(200);
        expect(second.reused).toBe(true);
      } finally {
        agent.destroy();
      }
    });
  });
}
