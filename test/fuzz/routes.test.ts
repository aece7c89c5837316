import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, HTTP_STATUS, type ErrorCode } from '../../src/protocol/errors.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';

const TOKEN = 'fuzz-token';
let server: TestServer;
let liveId = '';
let doneId = '';
let liveCallId = '';

beforeAll(async () => {
  const tools = new ToolRegistry();
  tools.register({ name: 'echo', description: 'Echo', parameters: { x: { type: 'string', description: 'x' } }, handler: async (a) => a });
  server = await startBroker({
    tools,
    maxBodyBytes: 256 * 1024,
    limits: { timeoutMs: 400, heartbeatIntervalMs: 60_000 },
    authentication: { type: 'bearer', validate: async (t) => ({ valid: t === TOKEN, tenantId: 'fuzz', permissions: ['echo'] }) },
    rateLimiting: { windowMs: 60_000, maxRequests: 1_000_000 },
  });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const done = await postJson(`${server.url}/execute`, { code: 'return 1' }, auth);
  doneId = done.headers.get('x-session-id')!;
  await readEvents(done);
  // A session that waits for a client tool for a long time (its stream is left unread).
  const live = await postJson(`${server.url}/execute`, { code: 'return await callTool("client:x", {})' }, auth);
  liveId = live.headers.get('x-session-id')!;
  const reader = live.body!.getReader();
  let text = '';
  while (!text.includes('"tool_call"')) text += new TextDecoder().decode((await reader.read()).value);
  liveCallId = /"callId":"(c_[^"]+)"/.exec(text)![1]!;
  void reader.cancel();
}, 30_000);
afterAll(() => server.close());

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const anyText = fc.string({ unit: 'binary', maxLength: 60 });

const weird = fc.constantFrom('%', '%zz', '%E0%A4%A', '..', '.', '%00', '%2F', '%C0%AF', 's_', `s_${'a'.repeat(300)}`, 'ſ_x', '__proto__', 'constructor');
const sessionIdPart = fc.oneof(
  fc.constant(() => liveId),
  fc.constant(() => doneId),
  weird.map((w) => () => w),
  printable.map((s) => () => `s_${encodeURIComponent(s)}`),
  anyText.map((s) => () => safeEncode(s)),
);

function safeEncode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return 'x';
  }
}

const jsonValue = fc.jsonValue({ maxDepth: 4 });
const executeBody = fc.oneof(
  fc
    .record(
      {
        code: fc.oneof(
          fc.constantFrom(
            'return 1',
            'return context',
            'throw new Error("x")',
            'while(true){}',
            'return await callTool("echo", {x: "y"})',
            'return await callTool("nope", {})',
            '}{',
          ),
          anyText,
          jsonValue,
        ),
        timeout: fc.oneof(fc.integer({ min: -5, max: 500 }), jsonValue),
        maxToolCalls: fc.oneof(fc.integer({ min: -1, max: 5 }), jsonValue),
        context: fc.oneof(fc.dictionary(printable, jsonValue, { maxKeys: 3 }), jsonValue),
        filter: fc.oneof(fc.record({ types: fc.array(printable, { maxLength: 3 }) }, { requiredKeys: [] }), jsonValue),
        limits: fc.oneof(
          fc.record({ timeoutMs: fc.integer({ min: -1, max: 300 }), maxStdoutBytes: fc.integer({ min: -1, max: 100 }) }, { requiredKeys: [] }),
          jsonValue,
        ),
        sessionId: fc.oneof(printable, fc.constant(doneId)),
        config: jsonValue,
      },
      { requiredKeys: [] },
    )
    .map((b) => JSON.stringify(b)),
  jsonValue.map((v) => JSON.stringify(v)),
  anyText,
  fc.constantFrom(
    '',
    '{',
    '{"code":',
    'null',
    '[]',
    '{"code":"return 1"',
    '\u0000',
    '{"code":"\\ud800"}',
    '{"code":"return 1"}'.repeat(20_000),
    `{"code":"return 1","context":{"d":${'['.repeat(60_000)}${']'.repeat(60_000)}}}`,
  ),
);
const toolResultBody = fc.oneof(
  fc
    .record(
      {
        callId: fc.oneof(fc.constant(liveCallId), printable, jsonValue),
        result: jsonValue,
        error: fc.oneof(jsonValue, fc.record({ message: printable, code: printable })),
      },
      { requiredKeys: [] },
    )
    .map((b) => JSON.stringify({ ...b, callId: b.callId === '' ? liveCallId : b.callId })),
  executeBody,
);

const approvalBody = fc.oneof(
  fc
    .record(
      { callId: fc.oneof(fc.constant(liveCallId), printable, jsonValue), approve: fc.oneof(fc.boolean(), jsonValue), reason: fc.oneof(printable, jsonValue) },
      { requiredKeys: [] },
    )
    .map((b) => JSON.stringify(b)),
  executeBody,
);

const query = fc
  .dictionary(
    fc.constantFrom('after', 'fromSeq', 'from', 'types', 'blockedTypes', 'x', ''),
    fc.oneof(printable, fc.integer({ min: -2, max: 1e16 }).map(String), fc.constantFrom('1e3', '-0', '0x10', ' 3', '')),
    { maxKeys: 3 },
  )
  .map((q) =>
    Object.entries(q)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&'),
  );

const headers = fc.record(
  {
    authorization: fc.oneof(
      { arbitrary: fc.constant(`Bearer ${TOKEN}`), weight: 8 },
      fc.constant(`bearer   ${TOKEN}`),
      printable,
      printable.map((s) => `Bearer ${s}`),
    ),
    'content-type': fc.constantFrom(
      'application/json',
      'text/plain',
      'multipart/form-data',
      'application/json; charset=latin1',
      'application/merge-patch+json',
      ';',
      'application/json;;;',
    ),
    'last-event-id': fc.oneof(printable, fc.integer().map(String)),
    'x-forwarded-for': printable,
    'x-api-key': printable,
    'x-request-id': printable,
    origin: printable,
  },
  { requiredKeys: ['authorization'] },
);

const route = fc.oneof(
  { arbitrary: executeBody.map((body) => ({ method: 'POST', path: () => '/execute', body })), weight: 4 },
  executeBody.map((body) => ({ method: 'POST', path: () => '/sessions', body })),
  fc.constant({ method: 'GET', path: () => '/sessions', body: undefined }),
  sessionIdPart.map((id) => ({ method: 'GET', path: () => `/sessions/${id()}`, body: undefined })),
  sessionIdPart.map((id) => ({ method: 'GET', path: () => `/sessions/${id()}/events`, body: undefined })),
  sessionIdPart.map((id) => ({ method: 'GET', path: () => `/sessions/${id()}/stream`, body: undefined })),
  fc.tuple(sessionIdPart, toolResultBody).map(([id, body]) => ({ method: 'POST', path: () => `/sessions/${id()}/tool-result`, body })),
  fc.tuple(sessionIdPart, approvalBody).map(([id, body]) => ({ method: 'POST', path: () => `/sessions/${id()}/approvals`, body })),
  sessionIdPart.map((id) => ({ method: 'DELETE', path: () => `/sessions/${id()}`, body: undefined })),
  sessionIdPart.map((id) => ({ method: 'POST', path: () => `/sessions/${id()}/cancel`, body: undefined })),
  fc.constant({ method: 'GET', path: () => '/code/actions', body: undefined }),
  fc.constant({ method: 'GET', path: () => '/health', body: undefined }),
  fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
      fc.array(fc.oneof(weird, printable.map(safeEncode)), { maxLength: 4 }),
      executeBody,
    )
    .map(([method, parts, body]) => ({
      method,
      path: () => `/${parts.join('/')}`,
      body: method === 'GET' || method === 'OPTIONS' ? undefined : body,
    })),
);

const ALLOWED = new Set<string>(ERROR_CODES);

describe('fuzzing every route', () => {
  it('never answers 500 and always answers errors in the SPEC shape', async () => {
    await fc.assert(
      fc.asyncProperty(route, query, headers, async (r, q, h) => {
        const path = r.path();
        // The live session must keep waiting: its cancel is only tried with a wrong tenant.
        if (
          path.startsWith(`/sessions/${liveId}`) &&
          (r.method === 'DELETE' ||
            path.endsWith('/cancel') ||
            path.endsWith('/tool-result') ||
            path.endsWith('/approvals') ||
            path.endsWith('/events') ||
            path.endsWith('/stream'))
        ) {
          h = { ...h, authorization: 'Bearer someone-else' };
        }
        const url = `${server.url}${path}${q ? `?${q}` : ''}`;
        let res: Response;
        try {
          res = await fetch(url, { method: r.method, headers: h, body: r.body });
        } catch (err) {
          // Only the client may refuse what it cannot send.
          expect(String(err)).toMatch(/TypeError|Invalid|fetch failed/);
          return;
        }
        expect(res.status, `${r.method} ${path}`).not.toBe(500);
        expect(res.status).toBeLessThan(600);
        const text = await res.text();
        if (res.status >= 400) {
          const body = JSON.parse(text) as { error: { code: string; message: string } };
          expect(typeof body.error.message).toBe('string');
          expect(ALLOWED.has(body.error.code), body.error.code).toBe(true);
          expect(HTTP_STATUS[body.error.code as ErrorCode], `${body.error.code} → ${res.status}`).toBe(res.status);
          expect(text).not.toContain('/work/');
          expect(text).not.toContain('node_modules');
          expect(text).not.toContain(TOKEN);
        }
      }),
      { numRuns: 400 },
    );
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    // The live session was never cancelled or answered by another tenant: it ran into its timeout.
    const info = await fetch(`${server.url}/sessions/${liveId}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await info.json()).toMatchObject({ status: 'error', errorCode: 'TIMEOUT' });
  }, 120_000);
});
