import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';

let open: TestServer;
let listed: TestServer;

beforeAll(async () => {
  open = await startBroker();
  listed = await startBroker({
    cors: { origin: ['https://app.example'] },
    rateLimiting: { windowMs: 60_000, maxRequests: 1000 },
  });
});

afterAll(async () => {
  await open?.close();
  await listed?.close();
});

const ORIGIN = { Origin: 'https://app.example' };

describe('CORS and request ids on every answer', () => {
  it('streams, errors and JSON answers carry the CORS headers and a request id', async () => {
    const res = await postJson(`${open.url}/execute`, { code: 'return 1 + 2' }, ORIGIN);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-expose-headers')).toContain('X-Session-ID');
    expect(res.headers.get('x-request-id')).toMatch(/^[\w-]+$/);
    expect(res.headers.get('x-session-id')).toMatch(/^s_/);
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    expect((await readEvents(res)).at(-1)?.type).toBe('final');

    const missing = await fetch(`${open.url}/sessions/s_nope`, { headers: ORIGIN });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('access-control-allow-origin')).toBe('*');
    expect(missing.headers.get('x-request-id')).toBeTruthy();
    expect((await missing.json()).error.code).toBe('NOT_FOUND');

    const bad = await fetch(`${open.url}/execute`, { method: 'POST', headers: { ...ORIGIN, 'content-type': 'application/json' }, body: '{' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe('*');

    const health = await fetch(`${open.url}/health`, { headers: { ...ORIGIN, 'X-Request-Id': 'trace-42' } });
    expect(health.headers.get('access-control-allow-origin')).toBe('*');
    expect(health.headers.get('x-request-id')).toBe('trace-42');
  });

  it('answers preflights with the allowed methods and headers', async () => {
    const res = await fetch(`${open.url}/execute`, {
      method: 'OPTIONS',
      headers: { ...ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toContain('Content-Type');
    expect(res.headers.get('access-control-max-age')).toBe('600');
  });

  it('allows only listed origins, and keeps rate-limit headers on the answer', async () => {
    const ok = await postJson(`${listed.url}/execute`, { code: 'return 1' }, ORIGIN);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('vary')).toContain('Origin');
    expect(ok.headers.get('ratelimit-limit')).toBe('1000');
    await readEvents(ok);
    const other = await postJson(`${listed.url}/execute`, { code: 'return 1' }, { Origin: 'https://evil.example' });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    await readEvents(other);
  });
});

describe('a cors.origin predicate', () => {
  it('allows what it answers; one that throws or answers a non-string allows nothing, and requests are still answered', async () => {
    const predicate = await startBroker({
      cors: {
        origin: (o: string) => {
          if (o === 'https://ok.example') return o;
          if (o === 'https://odd.example') return true as never;
          throw new Error('predicate bug');
        },
      },
    });
    try {
      for (const [origin, expected] of [
        ['https://ok.example', 'https://ok.example'],
        ['https://odd.example', null],
        ['https://boom.example', null],
      ] as const) {
        const res = await postJson(`${predicate.url}/execute`, { code: 'return 1 + 2' }, { Origin: origin });
        expect(res.status).toBe(200);
        expect(res.headers.get('access-control-allow-origin')).toBe(expected);
        expect((await readEvents(res)).at(-1)?.type).toBe('final');
      }
    } finally {
      await predicate.close();
    }
  });
});
