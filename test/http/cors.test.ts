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
