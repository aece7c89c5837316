import { afterEach, describe, expect, it } from 'vitest';
import { postJson, startBroker, type TestServer } from '../helpers/broker.js';

/**
 * SPEC §6: past a documented capacity the broker answers 503 TOO_MANY_SESSIONS (with
 * Retry-After) rather than queueing new work behind running code, and one tenant cannot take
 * all of it.
 */
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const KEYS: Record<string, { tenantId: string }> = { a: { tenantId: 'A' }, b: { tenantId: 'B' } };
const as = (key: string) => ({ 'x-api-key': key });

async function start(options: Parameters<typeof startBroker>[0]) {
  const server = await startBroker({
    authentication: { type: 'api-key', validate: async (key) => (KEYS[key] ? { valid: true, ...KEYS[key] } : { valid: false }) },
    ...options,
  });
  servers.push(server);
  return server;
}

describe('capacity', () => {
  it('gives one tenant at most half of the sessions by default; the others still get theirs', async () => {
    const server = await start({ maxConcurrentSessions: 4 });
    const open: Response[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await postJson(`${server.url}/execute`, { code: 'await callTool("wait", {})' }, as('a'));
      expect(res.status).toBe(200);
      open.push(res);
    }
    const refused = await postJson(`${server.url}/execute`, { code: 'return 1' }, as('a'));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_SESSIONS');
    const other = await postJson(`${server.url}/execute`, { code: 'return 1 + 2' }, as('b'));
    expect(other.status).toBe(200);
    expect(await other.text()).toContain('"result":3');
    for (const res of open) await res.body?.cancel();
  });

  it('takes maxSessionsPerTenant', async () => {
    const server = await start({ maxConcurrentSessions: 10, maxSessionsPerTenant: 1 });
    const first = await postJson(`${server.url}/execute`, { code: 'await callTool("wait", {})' }, as('a'));
    expect(first.status).toBe(200);
    expect((await postJson(`${server.url}/execute`, { code: 'return 1' }, as('a'))).status).toBe(503);
    await first.body?.cancel();
  });

  it('refuses new sessions with 503 while every worker is held by code that ignores its interrupt', async () => {
    // One worker at most, twice that in a burst: two scripts inside a long native built-in hold both.
    const server = await start({
      runtimePool: { minSize: 1, maxSize: 1, scaleUpThreshold: 0.75, scaleDownThreshold: 0.25, scaleInterval: 1000 },
      maxSessionsPerTenant: 100,
    });
    const hog = `const s = 'a'.repeat(4e7); return ${Array.from({ length: 40 }, () => "s.indexOf('ab')").join(' + ')}`;
    const hogs: Response[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 6 && !refused; i++) {
      const res = await postJson(`${server.url}/execute`, { code: hog, timeout: 60_000, limits: { memoryLimitBytes: 128 * 1024 * 1024 } }, as('a'));
      if (res.status === 503) refused = res;
      else hogs.push(res);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(((await refused!.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_SESSIONS');
    for (const res of hogs) {
      const id = res.headers.get('x-session-id');
      if (id) await fetch(`${server.url}/sessions/${id}`, { method: 'DELETE', headers: as('a') });
      await res.body?.cancel();
    }
  });
});
