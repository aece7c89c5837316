import { Validator } from '@cfworker/json-schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolRegistry } from '../../src/tools/registry.js';
import { decodeNdjson } from '../../src/protocol/ndjson.js';
import { eventReader, postJson, startBroker, type TestServer } from '../helpers/broker.js';

type Json = Record<string, any>;

const TOKEN = 'secret-token';
let server: TestServer;
let doc: Json;
const auth = { authorization: `Bearer ${TOKEN}` };

beforeAll(async () => {
  const tools = new ToolRegistry();
  tools.register({
    name: 'echo',
    description: 'Echoes its text',
    parameters: { text: { type: 'string', description: 'Text', required: true } },
    handler: async (args) => args.text,
  });
  server = await startBroker({
    tools,
    limits: { heartbeatIntervalMs: 60_000 },
    maxBodyBytes: 64 * 1024,
    authentication: {
      type: 'bearer',
      validate: async (token) => (token === TOKEN ? { valid: true, tenantId: 'acme' } : { valid: false }),
    },
  });
  const res = await fetch(`${server.url}/openapi.json`, { headers: auth });
  expect(res.status).toBe(200);
  doc = await res.json();
});
afterAll(() => server.close());

/** The documented operation for a path template and method. */
function operation(template: string, method: string): Json {
  const op = doc.paths[template]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${template} is not documented`);
  return op;
}

function validate(schema: Json, value: unknown, what: string): void {
  const resolved = schema.$ref ? doc.components.schemas[String(schema.$ref).split('/').pop()!] : schema;
  const result = new Validator(resolved, '2020-12', false).validate(value);
  if (!result.valid) throw new Error(`${what} does not match its documented schema: ${JSON.stringify(result.errors.slice(0, 5))}\n${JSON.stringify(value)}`);
}

/** Checks an answer against the document: its status is documented, its body matches that status's schema. */
async function conforms(template: string, method: string, res: Response): Promise<unknown[]> {
  const op = operation(template, method);
  const documented = op.responses[String(res.status)];
  expect(documented, `${method} ${template} answered ${res.status}, which is not documented`).toBeDefined();
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const content = documented.content?.[type];
  expect(content, `${method} ${template} ${res.status}: ${type} is not documented`).toBeDefined();
  const what = `${method} ${template} ${res.status}`;
  if (type === 'application/json') {
    const body = await res.json();
    validate(content.schema, body, what);
    return [body];
  }
  if (type === 'application/x-ndjson') {
    const lines: unknown[] = [];
    for await (const line of decodeNdjson<unknown>(res.body!)) {
      validate(content.schema, line, what);
      lines.push(line);
    }
    return lines;
  }
  await res.text();
  return [];
}

const get = (path: string, headers: Record<string, string> = auth) => fetch(`${server.url}${path}`, { headers });
const post = (path: string, body: unknown, headers: Record<string, string> = auth) => postJson(`${server.url}${path}`, body, headers);

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document with info, paths, components and the security scheme', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: 'enclave-broker', version: expect.any(String) });
    expect(Object.keys(doc.paths).length).toBeGreaterThan(8);
    expect(doc.components.securitySchemes.broker).toEqual({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ broker: [] }]);
    expect(operation('/health', 'get').security).toEqual([]);
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      expect(path.startsWith('/')).toBe(true);
      for (const [method, op] of Object.entries<Json>(item)) {
        if (method === 'parameters') continue;
        expect(['get', 'post', 'delete']).toContain(method);
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const r of Object.values<Json>(op.responses)) expect(typeof r.description).toBe('string');
      }
    }
    // Every $ref points at a component.
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const r of refs) expect(doc.components.schemas[r.slice(8, -1).split('/').pop()!], r).toBeDefined();
  });

  it('documents every route of SPEC §4 with its parameters', () => {
    const routes = Object.entries<Json>(doc.paths).flatMap(([p, item]) =>
      Object.keys(item)
        .filter((m) => m !== 'parameters')
        .map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(routes.sort()).toEqual(
      [
        'POST /execute',
        'POST /sessions',
        'GET /sessions',
        'GET /sessions/{id}',
        'DELETE /sessions/{id}',
        'GET /sessions/{id}/events',
        'GET /sessions/{id}/stream',
        'POST /sessions/{id}/tool-result',
        'POST /sessions/{id}/approvals',
        'POST /sessions/{id}/cancel',
        'GET /code/actions',
        'GET /health',
        'GET /openapi.json',
        'GET /docs',
      ].sort(),
    );
    const names = (template: string) => operation(template, 'get').parameters.map((p: Json) => p.name);
    expect(names('/sessions/{id}/events')).toEqual(expect.arrayContaining(['after', 'Last-Event-ID', 'types', 'blockedTypes']));
    expect(names('/sessions/{id}/stream')).toEqual(expect.arrayContaining(['fromSeq', 'from', 'Last-Event-ID', 'types', 'blockedTypes']));
    expect(operation('/execute', 'post').responses['200'].content['application/x-ndjson']).toBeDefined();
    expect(Object.keys(operation('/sessions/{id}/tool-result', 'post').responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '404', '409', '413', '415', '500', '503']),
    );
  });

  it('request bodies are the zod schemas that validate requests', () => {
    const execute = doc.components.schemas.ExecuteRequest;
    expect(execute.required).toEqual(['code']);
    expect(Object.keys(execute.properties)).toEqual(['code', 'timeout', 'maxToolCalls', 'context', 'filter', 'limits']);
    expect(execute.properties.limits.additionalProperties).toBe(false);
  });
});

describe('every documented route exists and answers as documented', () => {
  it('calls each operation', async () => {
    const first = await post('/execute', { code: 'return 1' });
    const id = first.headers.get('x-session-id')!;
    await conforms('/execute', 'POST', first);
    const bodies: Record<string, unknown> = {
      'POST /execute': { code: 'return 2' },
      'POST /sessions': { code: 'return 3' },
      'POST /sessions/{id}/tool-result': { callId: 'c_unknown', result: 1 },
      'POST /sessions/{id}/approvals': { callId: 'c_unknown', approve: true },
    };
    for (const [template, item] of Object.entries<Json>(doc.paths)) {
      for (const method of Object.keys(item).filter((m) => m !== 'parameters')) {
        const url = `${server.url}${template.replace('{id}', id)}`;
        const key = `${method.toUpperCase()} ${template}`;
        const res = await fetch(url, {
          method: method.toUpperCase(),
          headers: { ...auth, 'content-type': 'application/json' },
          ...(method === 'post' ? { body: JSON.stringify(bodies[key] ?? {}) } : {}),
        });
        if (res.status === 404) {
          const body = await res.clone().json();
          expect(body.error.message, key).not.toMatch(/^no route/);
        }
        await conforms(template, method, res);
      }
    }
  });
});

describe('responses of the end-to-end paths validate against the document', () => {
  it('success paths: execute with a server tool, upstream session, a client tool round trip, replay, cancel', async () => {
    const lines = await conforms(
      '/execute',
      'POST',
      await post('/execute', { code: 'console.log("hi"); console.warn("w"); return await callTool("echo", { text: "x" })' }),
    );
    expect(lines.map((l: any) => l.type)).toEqual(['session_init', 'stdout', 'log', 'tool_call', 'tool_result_applied', 'final']);
    await conforms('/execute', 'POST', await post('/execute', { code: 'throw new Error("boom")' }));
    await conforms('/execute', 'POST', await post('/execute', { code: 'return await callTool("echo", {})' }));
    await conforms('/sessions', 'POST', await post('/sessions', { code: 'return 1', config: { maxExecutionMs: 5000 } }));

    const res = await post('/execute', { code: 'return await callTool("ask", { q: 1 })' });
    const id = res.headers.get('x-session-id')!;
    const reader = eventReader(res);
    const call = await reader.until('tool_call');
    const callId = (call.payload as { callId: string }).callId;
    await conforms('/sessions/{id}', 'GET', await get(`/sessions/${id}`));
    await conforms('/sessions', 'GET', await get('/sessions'));
    await conforms('/sessions/{id}/tool-result', 'POST', await post(`/sessions/${id}/tool-result`, { callId: 'c_nope', result: 1 }));
    await conforms('/sessions/{id}/tool-result', 'POST', await post(`/sessions/${id}/tool-result`, { callId }));
    const ok = await post(`/sessions/${id}/tool-result`, { callId, result: { answer: 42 } });
    expect(ok.status).toBe(200);
    await conforms('/sessions/{id}/tool-result', 'POST', ok);
    await reader.rest();
    const again = await post(`/sessions/${id}/tool-result`, { callId, result: 1 });
    expect(again.status).toBe(409);
    await conforms('/sessions/{id}/tool-result', 'POST', again);
    await conforms('/sessions/{id}/events', 'GET', await get(`/sessions/${id}/events?after=2`));
    await conforms('/sessions/{id}/events', 'GET', await get(`/sessions/${id}/events`, { ...auth, 'last-event-id': '1' }));
    await conforms('/sessions/{id}/stream', 'GET', await get(`/sessions/${id}/stream?fromSeq=1&types=final`));
    await conforms('/sessions/{id}', 'DELETE', await fetch(`${server.url}/sessions/${id}`, { method: 'DELETE', headers: auth }));
    await conforms('/sessions/{id}/cancel', 'POST', await post(`/sessions/${id}/cancel`, {}));
    await conforms('/code/actions', 'GET', await get('/code/actions'));
    await conforms('/health', 'GET', await get('/health', {}));
  });

  it('error paths: 400, 401, 404, 409, 413, 415', async () => {
    const statuses: number[] = [];
    const check = async (template: string, method: string, res: Response) => {
      statuses.push(res.status);
      await conforms(template, method, res);
    };
    await check('/execute', 'POST', await post('/execute', { nope: 1 }));
    await check('/execute', 'POST', await post('/execute', '{"code":'));
    await check('/execute', 'POST', await post('/execute', { code: 'return 1' }, {}));
    await check('/execute', 'POST', await post('/execute', { code: 'return 1' }, { authorization: 'Bearer wrong' }));
    await check('/execute', 'POST', await post('/execute', { code: 'x'.repeat(70 * 1024) }));
    await check(
      '/execute',
      'POST',
      await fetch(`${server.url}/execute`, { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'return 1' }),
    );
    const first = await post('/sessions', { code: 'return 1', sessionId: 's_fixed_for_docs' });
    await check('/sessions', 'POST', first);
    await check('/sessions', 'POST', await post('/sessions', { code: 'return 1', sessionId: 's_fixed_for_docs' }));
    await check('/sessions/{id}', 'GET', await get('/sessions/s_missing'));
    await check('/sessions/{id}/events', 'GET', await get('/sessions/s_fixed_for_docs/events?after=abc'));
    await check('/sessions/{id}/tool-result', 'POST', await post('/sessions/s_fixed_for_docs/tool-result', { callId: 'c_1', result: 1 }));
    await check('/openapi.json', 'GET', await get('/openapi.json', {}));
    expect(new Set(statuses)).toEqual(new Set([200, 400, 401, 404, 409, 413, 415]));
  });

  it('429 and 503 validate too', async () => {
    const limited = await startBroker({ rateLimiting: { windowMs: 60_000, maxRequests: 3 }, maxConcurrentSessions: 1 });
    try {
      const d = await (await fetch(`${limited.url}/openapi.json`)).json();
      expect(d.security).toBeUndefined();
      const waiting = await postJson(`${limited.url}/execute`, { code: 'return await callTool("ask", {})' });
      const reader = eventReader(waiting);
      await reader.until('tool_call');
      const busy = await postJson(`${limited.url}/execute`, { code: 'return 1' });
      expect(busy.status).toBe(503);
      const busyBody = await busy.json();
      expect(busyBody.error.code).toBe('TOO_MANY_SESSIONS');
      validate(d.paths['/execute'].post.responses['503'].content['application/json'].schema, busyBody, '503');
      const over = await fetch(`${limited.url}/sessions`);
      expect(over.status).toBe(429);
      validate(d.paths['/sessions'].get.responses['429'].content['application/json'].schema, await over.json(), '429');
      // Closing the broker ends the waiting session with CANCELLED.
      const rest = reader.rest();
      await limited.close();
      expect((await rest).at(-1)?.type).toBe('final');
    } finally {
      await limited.close();
    }
  });
});

describe('GET /docs', () => {
  it('serves a self-contained page without credentials; the document itself needs them', async () => {
    const page = await fetch(`${server.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('openapi.json');
    expect(html).not.toMatch(/<(?:script|link|img)[^>]+(?:src|href)=["']?https?:/i);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect((await fetch(`${server.url}/openapi.json`)).status).toBe(401);
  });

  it('docs: false removes both routes, and /docs then follows authentication', async () => {
    const off = await startBroker({ docs: false, authentication: { type: 'bearer', validate: async () => ({ valid: true }) } });
    try {
      expect((await fetch(`${off.url}/docs`)).status).toBe(401);
      expect((await fetch(`${off.url}/openapi.json`, { headers: auth })).status).toBe(404);
      expect((await fetch(`${off.url}/docs`, { headers: auth })).status).toBe(404);
    } finally {
      await off.close();
    }
  });

  it('the document of a mounted app names its prefix as the server', async () => {
    const { Hono } = await import('hono');
    const { EnclaveBroker } = await import('../../src/broker.js');
    const { silentLogger } = await import('../../src/logger.js');
    const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false, metrics: true });
    try {
      const app = new Hono().route('/enclave', broker.app);
      const d = await (await app.request('/enclave/openapi.json')).json();
      expect(d.servers).toEqual([{ url: '/enclave' }]);
      expect(d.paths['/metrics']).toBeDefined();
    } finally {
      await broker.close();
    }
  });
});
