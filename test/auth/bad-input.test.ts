import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalOf, postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';

const TOKEN = 'sk-live-very-secret-token-123';
const LIMIT = 64 * 1024;
let server: TestServer;
let port: number;

beforeAll(async () => {
  server = await startBroker({
    maxBodyBytes: LIMIT,
    limits: { heartbeatIntervalMs: 60_000 },
    authentication: { type: 'bearer', validate: async (t) => ({ valid: t === TOKEN, userId: 'u' }) },
  });
  port = server.broker.port!;
});
afterAll(() => server.close());

const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Asserts an error answer has the SPEC shape and leaks nothing of the host. */
async function expectError(res: Response, status: number, code: string) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(JSON.parse(text)).toMatchObject({ error: { code, message: expect.any(String) } });
  expectClean(text);
}

function expectClean(text: string) {
  expect(text).not.toContain('/work/');
  expect(text).not.toContain('node_modules');
  expect(text).not.toContain(TOKEN);
  expect(text).not.toMatch(/\n\s+at /);
}

async function alive() {
  const res = await fetch(`${server.url}/health`);
  expect(res.status).toBe(200);
  const exec = await postJson(`${server.url}/execute`, { code: 'return 6 * 7' }, AUTH);
  expect(finalOf(await readEvents(exec)).result).toBe(42);
}

/** Opens a raw socket and sends `head`; resolves with the socket and a promise of all it answers. */
async function raw(head: string) {
  const socket: Socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let answer = '';
  socket.setEncoding('latin1');
  const firstData = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.on('data', (d: string) => (answer += d));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(head);
  return { socket, firstData, closed, answer: () => answer };
}

describe('bodies over the limit', () => {
  it('refuses a too-long Content-Length before the body is sent', async () => {
    const conn = await raw(
      `POST /execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n{"code":`,
    );
    // No more bytes are sent: an answer can only come from the header.
    await conn.firstData;
    expect(conn.answer()).toMatch(/^HTTP\/1\.1 413 /);
    conn.socket.destroy();
    await alive();
  });

  it('refuses a chunked body without Content-Length once it passes the limit, while it is still being sent', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/execute', method: 'POST', headers: { ...AUTH, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
          req.destroy();
        },
      );
      req.on('error', (err) => (err.message.includes('socket hang up') || (err as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(err)));
      req.write('{"code":"return 1","context":{"pad":"');
      const chunk = 'x'.repeat(8 * 1024);
      let sent = 0;
      // Keeps sending (never ends the body) until the answer comes.
      const pump = () => {
        if (req.destroyed || sent > 40 * LIMIT) return;
        sent += chunk.length;
        req.write(chunk, () => setImmediate(pump));
      };
      pump();
    });
    expect(status).toBe(413);
    await alive();
  });

  it('answers 413 PAYLOAD_TOO_LARGE in the SPEC shape, and accepts a body just under the limit', async () => {
    const big = JSON.stringify({ code: 'return 1', context: { pad: 'x'.repeat(LIMIT) } });
    await expectError(await postJson(`${server.url}/execute`, big, AUTH), 413, 'PAYLOAD_TOO_LARGE');
    const fits = JSON.stringify({ code: 'return context.pad.length', context: { pad: 'x'.repeat(LIMIT - 100) } });
    const res = await postJson(`${server.url}/execute`, fits, AUTH);
    expect(finalOf(await readEvents(res)).result).toBe(LIMIT - 100);
  });
});

describe('hostile JSON', () => {
  it('deeply nested arrays answer 400, never crash', async () => {
    const depth = 30_000; // 60 KB, under the body limit
    const body = `{"code":"return 1","context":{"deep":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    await expectError(await postJson(`${server.url}/execute`, body, AUTH), 400, 'VALIDATION_ERROR');
    // Unbalanced, deeper than the limit allows in one body: malformed JSON.
    await expectError(await postJson(`${server.url}/execute`, '['.repeat(LIMIT - 1), AUTH), 400, 'VALIDATION_ERROR');
    await alive();
  });

  it('100k nested arrays in a larger broker answer without crashing', async () => {
    const s = await startBroker({ limits: { heartbeatIntervalMs: 60_000 } });
    try {
      const depth = 100_000;
      const body = `{"code":"return 1","context":{"deep":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
      await expectError(await postJson(`${s.url}/execute`, body), 400, 'VALIDATION_ERROR');
      const again = await postJson(`${s.url}/execute`, { code: 'return 2' });
      expect(finalOf(await readEvents(again)).result).toBe(2);
    } finally {
      await s.close();
    }
  });

  it.each([
    ['malformed', '{"code":'],
    ['a string', '"return 1"'],
    ['null', 'null'],
    ['an array', '[]'],
    ['code as a number', '{"code":1}'],
    ['an empty body', ''],
    ['a huge number', `{"code":"return 1","timeout":1e400}`],
    ['a negative timeout', '{"code":"return 1","timeout":-1}'],
    ['__proto__ keys', '{"code":"return 1","__proto__":{"code":1},"limits":{"__proto__":{"timeoutMs":1}}}'],
  ])('answers 400 VALIDATION_ERROR for %s', async (_name, body) => {
    const res = await postJson(`${server.url}/execute`, body, AUTH);
    if (_name === '__proto__ keys') {
      // Plain data: a __proto__ key is an unknown limits key, refused by the strict schema.
      expect([200, 400]).toContain(res.status);
      if (res.status === 200) await res.body?.cancel();
      else await expectError(res, 400, 'VALIDATION_ERROR');
      return;
    }
    await expectError(res, 400, 'VALIDATION_ERROR');
  });

  it('ignores a leading BOM (RFC 8259 allows it)', async () => {
    const res = await postJson(`${server.url}/execute`, '\ufeff{"code":"return 1"}', AUTH);
    expect(finalOf(await readEvents(res)).result).toBe(1);
  });

  it('refuses nesting past 256 levels with 400, and runs 200 levels', async () => {
    const nest = (d: number) => `${'['.repeat(d)}${']'.repeat(d)}`;
    await expectError(await postJson(`${server.url}/execute`, `{"code":"return 1","context":{"d":${nest(300)}}}`, AUTH), 400, 'VALIDATION_ERROR');
    // Brackets inside strings do not count.
    const inString = await postJson(`${server.url}/execute`, { code: 'return context.s.length', context: { s: '['.repeat(1000) } }, AUTH);
    expect(finalOf(await readEvents(inString)).result).toBe(1000);
    const ok = await postJson(
      `${server.url}/execute`,
      `{"code":"let d = 0, v = context.d; while (Array.isArray(v)) { d++; v = v[0] } return d","context":{"d":${nest(200)}}}`,
      AUTH,
    );
    expect(finalOf(await readEvents(ok)).result).toBe(200);
    // The programmatic API refuses it too (it used to overflow the stack).
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const it = server.broker.execute('return 1', { context: { deep } })[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('answers 400 for bytes that are not UTF-8', async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"code":"return \''), 0xff, 0xfe, ...new TextEncoder().encode('\'"}')]);
    const res = await fetch(`${server.url}/execute`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: bytes });
    await expectError(res, 400, 'VALIDATION_ERROR');
    // The same bytes streamed without a Content-Length (read chunk by chunk under the cap).
    const streamed = await fetch(`${server.url}/execute`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(bytes.slice(0, 10));
          controller.enqueue(bytes.slice(10));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    await expectError(streamed, 400, 'VALIDATION_ERROR');
  });

  it('carries lone surrogates and NUL bytes through code and strings', async () => {
    const res = await postJson(
      `${server.url}/execute`,
      '{"code":"const s = context.s + \\"\\\\u0000\\\\udc00\\"; return [s.length, s.charCodeAt(0), s.charCodeAt(1), s.charCodeAt(2), s.charCodeAt(3)]","context":{"s":"\\ud800\\u0000"}}',
      AUTH,
    );
    expect(res.status).toBe(200);
    const final = finalOf(await readEvents(res));
    expect(final.result).toEqual([4, 0xd800, 0, 0, 0xdc00]);
    // A NUL inside the code itself, and in a tool name.
    const nul = await postJson(`${server.url}/execute`, { code: 'return "a\u0000b".length // \u0000' }, AUTH);
    expect(finalOf(await readEvents(nul)).result).toBe(3);
    const lone = await postJson(`${server.url}/execute`, { code: 'return "\ud800"' }, AUTH);
    const loneFinal = finalOf(await readEvents(lone));
    expect(loneFinal.ok).toBe(true);
    expect(loneFinal.result).toBe('\ud800');
  });
});

describe('content types', () => {
  it.each([
    'text/plain',
    'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded',
    'application/xml',
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/jsonp',
  ])('answers 415 for %s', async (type) => {
    const res = await fetch(`${server.url}/execute`, { method: 'POST', headers: { ...AUTH, 'content-type': type }, body: '{"code":"return 1"}' });
    await expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it.each(['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON; Charset="UTF-8"', 'application/vnd.api+json'])(
    'accepts %s',
    async (type) => {
      const res = await fetch(`${server.url}/execute`, { method: 'POST', headers: { ...AUTH, 'content-type': type }, body: '{"code":"return 1"}' });
      expect(res.status).toBe(200);
      expect(finalOf(await readEvents(res)).result).toBe(1);
    },
  );

  it('refuses a non-JSON type on the tool-result route too', async () => {
    const res = await fetch(`${server.url}/sessions/s_whatever/tool-result`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'text/plain' },
      body: '{}',
    });
    expect([404, 415]).toContain(res.status);
    expectClean(await res.text());
  });
});

describe('headers and slow clients', () => {
  it('survives a flood of headers and a huge header', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const a = await raw(`GET /sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n${many}Connection: close\r\n\r\n`);
    await a.closed;
    expect(a.answer()).toMatch(/^HTTP\/1\.1 (200|400|431) /);
    const b = await raw(`GET /sessions HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(100_000)}\r\nConnection: close\r\n\r\n`);
    await b.closed;
    expect(b.answer()).toMatch(/^HTTP\/1\.1 431 /);
    await alive();
  });

  it('a body trickling in does not block other requests', async () => {
    const body = '{"code":"return 9"}';
    const slow = await raw(
      `POST /execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    slow.socket.write(body.slice(0, 3));
    // Other requests are served meanwhile.
    await alive();
    await alive();
    expect(slow.answer()).toBe('');
    for (const ch of body.slice(3)) slow.socket.write(ch);
    await slow.closed;
    expect(slow.answer()).toMatch(/^HTTP\/1\.1 200 /);
    expect(slow.answer()).toContain('"result":9');
  });
});
