import { afterEach, describe, expect, it } from 'vitest';
import { ToolRegistry } from '../../src/tools/registry.js';
import type { Logger } from '../../src/logger.js';
import type { BrokerOptions } from '../../src/broker-options.js';
import { execute, finalOf, postJson, startBroker, type TestServer } from '../helpers/broker.js';
import type { BrokerStore } from '../../src/store/types.js';
import { MemoryStore } from '../../src/store/memory.js';

type Line = { level: string; msg: string | undefined; fields: Record<string, unknown> };

/** A pino-style logger that keeps every line (children included). */
function capturingLogger(lines: Line[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: Line[] } {
  const at = (level: string) => (obj: object | string, msg?: string) => {
    if (typeof obj === 'string') lines.push({ level, msg: obj, fields: { ...bindings } });
    else lines.push({ level, msg, fields: { ...bindings, ...(obj as Record<string, unknown>) } });
  };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => capturingLogger(lines, { ...bindings, ...more }),
  };
}

function tools(): ToolRegistry {
  const registry = new ToolRegistry();
  registry.register({
    name: 'secret:echo',
    description: 'Echoes',
    parameters: { password: { type: 'string', description: 'A secret', required: true } },
    handler: async (args) => String(args.password).length,
  });
  registry.register({ name: 'fail', description: 'Throws', parameters: {}, handler: async () => Promise.reject(new Error('nope')) });
  return registry;
}

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: BrokerOptions = {}) {
  const logger = capturingLogger();
  server = await startBroker({ logger, tools: tools(), limits: { heartbeatIntervalMs: 60_000 }, ...options });
  return { url: server.url, lines: logger.lines };
}

const find = (lines: Line[], msg: string) => lines.filter((l) => l.msg === msg);

/** Waits until a line with this message was logged (session end is logged just after `final`). */
async function until(lines: Line[], msg: string, count = 1): Promise<Line[]> {
  for (let i = 0; i < 200 && find(lines, msg).length < count; i++) await new Promise((r) => setTimeout(r, 10));
  return find(lines, msg);
}

describe('structured log lines', () => {
  it('session start and end, with duration, tool calls and outcome', async () => {
    const { url, lines } = await start();
    finalOf(await execute(url, { code: 'return 1' }));
    expect(find(lines, 'session started')[0]).toMatchObject({ level: 'debug', fields: { sessionId: expect.stringMatching(/^s_/) } });
    const [ended] = await until(lines, 'session ended');
    expect(ended).toMatchObject({ level: 'info', fields: { outcome: 'completed', toolCallCount: 0, durationMs: expect.any(Number) } });
  });

  it('tool calls: name, handler, duration and outcome, never argument values by default', async () => {
    const { url, lines } = await start();
    const code = `
      await callTool('secret:echo', { password: 'hunter2' });
      try { await callTool('fail', {}) } catch {}
      try { await callTool('secret:echo', {}) } catch {}
      return 1`;
    finalOf(await execute(url, { code }));
    const calls = await until(lines, 'tool call', 3);
    expect(calls.map((c) => [c.fields.tool, c.fields.outcome, c.fields.handler])).toEqual([
      ['secret:echo', 'ok', 'server'],
      ['fail', 'TOOL_ERROR', 'server'],
      ['secret:echo', 'TOOL_ARGS_INVALID', 'server'],
    ]);
    for (const c of calls) expect(c.fields.durationMs).toEqual(expect.any(Number));
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it('logToolArgs: true adds argument values', async () => {
    const { url, lines } = await start({ logToolArgs: true });
    finalOf(await execute(url, { code: "return await callTool('secret:echo', { password: 'hunter2' })" }));
    const [call] = await until(lines, 'tool call');
    expect(call!.fields.args).toEqual({ password: 'hunter2' });
  });

  it('a limit hit is a warn line with the error code', async () => {
    const { url, lines } = await start();
    expect(finalOf(await execute(url, { code: 'while (true) {}', timeout: 200 })).error?.code).toBe('TIMEOUT');
    expect(finalOf(await execute(url, { code: "for (;;) await callTool('fail', {}).catch(() => 0)", maxToolCalls: 2 })).error?.code).toBe('MAX_TOOL_CALLS');
    const hits = await until(lines, 'session limit hit', 2);
    expect(hits.map((h) => [h.level, h.fields.code])).toEqual([
      ['warn', 'TIMEOUT'],
      ['warn', 'MAX_TOOL_CALLS'],
    ]);
    const ended = await until(lines, 'session ended', 2);
    expect(ended.map((e) => e.fields.outcome)).toEqual(['TIMEOUT', 'MAX_TOOL_CALLS']);
  });

  it('authentication and rate-limit refusals are logged', async () => {
    const { url, lines } = await start({
      authentication: { type: 'bearer', validate: async (t) => ({ valid: t === 'good', tenantId: 't' }) },
      rateLimiting: { windowMs: 60_000, maxRequests: 2 },
    });
    const ok = { headers: { authorization: 'Bearer good' } };
    expect((await fetch(`${url}/sessions`, ok)).status).toBe(200);
    expect((await fetch(`${url}/sessions`, ok)).status).toBe(200);
    expect((await fetch(`${url}/sessions`, ok)).status).toBe(429);
    // Refusals are counted per client address, a bucket of their own.
    expect((await fetch(`${url}/sessions`)).status).toBe(401);
    expect((await fetch(`${url}/sessions`, { headers: { authorization: 'Bearer bad' } })).status).toBe(401);
    expect(find(lines, 'request refused').map((l) => l.fields.reason)).toEqual(['missing credentials', 'invalid credentials']);
    expect(find(lines, 'rate limited')).toHaveLength(1);
  });

  it('store errors are logged with the request id; TOO_MANY_SESSIONS is a warn', async () => {
    const store: BrokerStore = new MemoryStore();
    const broken = Object.create(store) as BrokerStore;
    let failing = false;
    broken.listSessions = (...args) => (failing ? Promise.reject(new Error('connection refused')) : store.listSessions(...args));
    const { url, lines } = await start({ store: broken, maxConcurrentSessions: 1 });
    failing = true;
    const res = await fetch(`${url}/sessions`, { headers: { 'x-request-id': 'req-store-1' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('x-request-id')).toBe('req-store-1');
    expect(find(lines, 'request refused')[0]).toMatchObject({
      level: 'error',
      fields: { code: 'STORE_UNAVAILABLE', requestId: 'req-store-1', path: '/sessions' },
    });

    const waiting = await postJson(`${url}/execute`, { code: "return await callTool('ask', {})" });
    const second = await postJson(`${url}/execute`, { code: 'return 1' });
    expect(second.status).toBe(503);
    expect(find(lines, 'request refused')[1]).toMatchObject({ level: 'warn', fields: { code: 'TOO_MANY_SESSIONS' } });
    await postJson(`${url}/sessions/${waiting.headers.get('x-session-id')}/cancel`, {});
    await waiting.text();
  });

  it('pool resizes go through the broker logger', async () => {
    const { url, lines } = await start({ runtimePool: { minSize: 1, maxSize: 2, scaleUpThreshold: 0.5, scaleDownThreshold: 0.1, scaleInterval: 50 } });
    // Guest code that keeps the only worker busy: the pool grows (by utilisation or because
    // every worker is running guest code when the second session arrives).
    const runs = [execute(url, { code: 'while (true) {}', timeout: 1500 }), execute(url, { code: 'while (true) {}', timeout: 1500 })];
    for (const events of await Promise.all(runs)) expect(finalOf(events).error?.code).toBe('TIMEOUT');
    const grown = lines.filter((l) => l.fields.component === 'runtime-pool' && /scaling up|adding one/.test(l.msg ?? ''));
    expect(grown.length).toBeGreaterThan(0);
    expect(grown[0]!.level).toBe('info');
  });
});

describe('X-Request-Id', () => {
  it('is on every answer, generated or taken from the caller, errors and streams included', async () => {
    const { url } = await start({ authentication: { type: 'bearer', validate: async () => ({ valid: true }) } });
    const bearer = { authorization: 'Bearer x' };
    const generated = await fetch(`${url}/health`);
    expect(generated.headers.get('x-request-id')).toMatch(/.{8,}/);
    const answers = [
      await fetch(`${url}/health`, { headers: { 'x-request-id': 'abc-1' } }),
      await fetch(`${url}/sessions`, { headers: { 'x-request-id': 'abc-1' } }), // 401
      await fetch(`${url}/nowhere`, { headers: { ...bearer, 'x-request-id': 'abc-1' } }), // 404
      await postJson(`${url}/execute`, '{', { ...bearer, 'x-request-id': 'abc-1' }), // 400
      await postJson(`${url}/execute`, { code: 'return 1' }, { ...bearer, 'x-request-id': 'abc-1' }), // stream
      await fetch(`${url}/execute`, { method: 'OPTIONS', headers: { origin: 'http://x', 'access-control-request-method': 'POST', 'x-request-id': 'abc-1' } }),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 401, 404, 400, 200, 204]);
    for (const r of answers.slice(0, 5)) expect(r.headers.get('x-request-id')).toBe('abc-1');
    await Promise.all(answers.map((r) => r.text()));
  });
});

describe('GET /metrics', () => {
  it('is off by default', async () => {
    const { url } = await start();
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
  });

  it('counts sessions, durations, tool calls by outcome and errors by code', async () => {
    const { url } = await start({ metrics: true });
    finalOf(await execute(url, { code: "return await callTool('secret:echo', { password: 'x' })" }));
    finalOf(await execute(url, { code: "try { await callTool('fail', {}) } catch {} throw new Error('x')" }));
    await postJson(`${url}/execute`, { nope: 1 });
    await fetch(`${url}/sessions/s_missing`);
    let text = '';
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      text = await res.text();
      if (text.includes('enclave_session_duration_seconds_count 2')) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const value = (series: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.split(' ')[1],
      );
    expect(value('enclave_sessions_started_total')).toBe(2);
    expect(value('enclave_sessions_active')).toBe(0);
    expect(value('enclave_session_duration_seconds_count')).toBe(2);
    expect(value('enclave_session_duration_seconds_bucket{le="+Inf"}')).toBe(2);
    expect(value('enclave_sessions_ended_total{outcome="completed"}')).toBe(1);
    expect(value('enclave_sessions_ended_total{outcome="error"}')).toBe(1);
    expect(value('enclave_tool_calls_total{outcome="ok",handler="server"}')).toBe(1);
    expect(value('enclave_tool_calls_total{outcome="TOOL_ERROR",handler="server"}')).toBe(1);
    expect(value('enclave_errors_total{code="RUNTIME_ERROR",source="session"}')).toBe(1);
    expect(value('enclave_errors_total{code="VALIDATION_ERROR",source="http"}')).toBe(1);
    expect(value('enclave_errors_total{code="NOT_FOUND",source="http"}')).toBe(1);
    // Every line is a comment or `name{labels} number`.
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(#( HELP| TYPE) \w+ .+|\w+(\{[^}]*\})? [0-9.e+-]+)$/);
  });

  it('follows authentication', async () => {
    const { url } = await start({ metrics: true, authentication: { type: 'bearer', validate: async (t) => ({ valid: t === 'ok' }) } });
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer ok' } })).status).toBe(200);
  });
});
