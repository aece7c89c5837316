// The client SDK as a newcomer uses it: error classes to instanceof, retries of a refused
// run, the whole outcome of a run, the session id at once, declared client tools.
import { afterEach, describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  CancelledError,
  EnclaveClient,
  EnclaveError,
  getDocumentation,
  NotFoundError,
  RateLimitError,
  RequestError,
  SandboxError,
  TooManySessionsError,
  type ClientTools,
} from '../../src/client/index.js';
import type { BrokerOptions } from '../../src/broker-options.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { startBroker, type TestServer } from '../helpers/broker.js';

const servers: TestServer[] = [];
async function broker(options: BrokerOptions = {}): Promise<TestServer> {
  const server = await startBroker(options);
  servers.push(server);
  return server;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function rejection(promise: Promise<unknown>): Promise<EnclaveError> {
  try {
    await promise;
  } catch (err) {
    return err as EnclaveError;
  }
  throw new Error('expected a rejection');
}

/** A fetch that records the status of every POST /execute answer. */
function recordingFetch(statuses: number[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (String(input).endsWith('/execute')) statuses.push(res.status);
    return res;
  };
}

describe('error classes', () => {
  it('each failure is an instance of its class and of EnclaveError, with the same code', async () => {
    const server = await broker({
      authentication: { type: 'bearer', validate: async (t) => ({ valid: t === 'good' }) },
      rateLimiting: { windowMs: 60_000, maxRequests: 4 },
    });
    const bad = new EnclaveClient({ baseUrl: server.url, headers: { authorization: 'Bearer nope' } });
    const auth = await rejection(bad.execute('return 1'));
    expect(auth).toBeInstanceOf(AuthenticationError);
    expect(auth).toBeInstanceOf(EnclaveError);
    expect(auth).toMatchObject({ code: 'UNAUTHORIZED', status: 401, name: 'AuthenticationError' });

    const good = new EnclaveClient({ baseUrl: server.url, headers: { authorization: 'Bearer good' }, retry: { budgetMs: 0 } });
    const thrown = await rejection(good.run('console.log("before"); console.warn("w"); throw new Error("boom")'));
    expect(thrown).toBeInstanceOf(SandboxError);
    expect(thrown).toMatchObject({ code: 'RUNTIME_ERROR', message: expect.stringContaining('boom') });
    expect((thrown as SandboxError).outcome).toMatchObject({ stdout: 'before\n', logs: [{ level: 'warn', message: 'w' }], sessionId: thrown.sessionId });

    const missing = await rejection(good.cancel('s_nope'));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.code).toBe('NOT_FOUND');

    const invalid = await rejection(good.execute('return 1', { timeout: -1 }));
    expect(invalid).toBeInstanceOf(RequestError);
    expect(invalid.code).toBe('VALIDATION_ERROR');

    const limited = await rejection(good.execute('return 1'));
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(limited.code).toBe('RATE_LIMITED');
    expect(limited.retryAfterMs).toBeGreaterThan(0);
  });

  it('an aborted run is a CancelledError named AbortError', async () => {
    const server = await broker();
    const client = new EnclaveClient({ baseUrl: server.url });
    const controller = new AbortController();
    const err = await rejection(
      client.execute('await new Promise((r) => setTimeout(r, 20000))', { signal: controller.signal, onSession: () => controller.abort() }),
    );
    expect(err).toBeInstanceOf(CancelledError);
    expect(err).toMatchObject({ code: 'CANCELLED', name: 'AbortError' });
  });
});

describe('retry of a refused run', () => {
  it('503 TOO_MANY_SESSIONS is sent again after Retry-After, within the budget', async () => {
    const server = await broker({ maxConcurrentSessions: 1 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const holder = new EnclaveClient({ baseUrl: server.url });
    const first = holder.execute('return await callTool("hold", {})', { tools: { hold: () => held.then(() => 'held') } });
    // Wait until the first session runs.
    while ((await holder.health()).sessions.active === 0) await new Promise((r) => setTimeout(r, 20));

    const statuses: number[] = [];
    const refused = new EnclaveClient({ baseUrl: server.url, fetch: recordingFetch(statuses), retry: { budgetMs: 0 } });
    const err = await rejection(refused.execute('return 2'));
    expect(err).toBeInstanceOf(TooManySessionsError);
    expect(err.retryAfterMs).toBe(1000);
    expect(err.message).toBe('this broker runs 1 session already');
    expect(statuses).toEqual([503]);

    statuses.length = 0;
    const patient = new EnclaveClient({ baseUrl: server.url, fetch: recordingFetch(statuses), retry: { budgetMs: 10_000 } });
    const second = patient.execute('return 2');
    while (statuses.length === 0) await new Promise((r) => setTimeout(r, 20));
    release();
    expect(await first).toBe('held');
    expect(await second).toBe(2);
    expect(statuses[0]).toBe(503);
    expect(statuses.at(-1)).toBe(200);
  });

  it('429 RATE_LIMITED is sent again once the window resets', async () => {
    const server = await broker({ rateLimiting: { windowMs: 1000, maxRequests: 1 } });
    const statuses: number[] = [];
    const client = new EnclaveClient({ baseUrl: server.url, fetch: recordingFetch(statuses) });
    expect(await client.execute('return 1')).toBe(1);
    expect(await client.execute('return 2')).toBe(2);
    expect(statuses).toContain(429);
    expect(statuses.at(-1)).toBe(200);
  });
});

describe('run() and onSession', () => {
  it('run() resolves to the result, stdout, logs, stats and session id', async () => {
    const server = await broker();
    const client = new EnclaveClient({ baseUrl: server.url });
    const seen: string[] = [];
    const outcome = await client.run<number>('console.log("a", 1); console.info("note"); console.log("b"); return 42', { onSession: (id) => seen.push(id) });
    expect(outcome).toEqual({
      result: 42,
      sessionId: expect.stringMatching(/^s_/),
      stdout: 'a 1\nb\n',
      logs: [{ level: 'info', message: 'note' }],
      stats: expect.objectContaining({ toolCallCount: 0, stdoutBytes: 6 }),
    });
    expect(seen).toEqual([outcome.sessionId]);
  });

  it('onSession gives the id before the run ends, so cancel(id) needs no event sniffing', async () => {
    const server = await broker();
    const client = new EnclaveClient({ baseUrl: server.url });
    const err = await rejection(client.execute('await new Promise((r) => setTimeout(r, 20000)); return 1', { onSession: (id) => void client.cancel(id) }));
    expect(err).toBeInstanceOf(CancelledError);
    expect(err.code).toBe('CANCELLED');
  });
});

describe('declared client tools', () => {
  const definitions = {
    'users:ask': {
      description: 'Asks the user a question',
      parameters: {
        q: { type: 'string' as const, description: 'The question', required: true },
        timeoutMs: { type: 'number' as const, description: 'How long to wait', default: 5000 },
      },
    },
    lookup: {
      description: 'Looks a key up',
      inputSchema: { type: 'object', properties: { key: { type: 'string', description: 'The key' } }, required: ['key'] },
    },
  };

  it('are answered like bare handlers', async () => {
    const server = await broker();
    const client = new EnclaveClient({ baseUrl: server.url });
    const tools: ClientTools = {
      'users:ask': { ...definitions['users:ask'], handler: async (args) => `yes to ${String(args.q)}` },
      plain: async () => 'plain',
    };
    expect(await client.execute('return [await callTool("users:ask", { q: "go?" }), await callTool("plain", {})]', { tools })).toEqual(['yes to go?', 'plain']);
  });

  it('getDocumentation() declares them as the server declares the same tools', () => {
    const registry = new ToolRegistry();
    const tools: ClientTools = {};
    for (const [name, def] of Object.entries(definitions)) {
      registry.register({ name, parameters: {}, ...def, handler: async () => null });
      tools[name] = { ...def, handler: () => null };
    }
    const docs = getDocumentation(tools);
    expect(docs).toBe(registry.getDocumentation());
    expect(docs).toContain('declare function callTool(name: "users:ask", args: {');
    expect(docs).toContain('/** The question */');
    expect(getDocumentation(tools, (name) => name === 'lookup')).not.toContain('users:ask');
  });
});
