import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../helpers/redis-server.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/redis-broker.ts', import.meta.url));

let redis: RedisServer;
const children: ChildProcess[] = [];

/** Starts a broker in its own Node process on the shared Redis; resolves to its URL. */
async function brokerProcess(): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, REDIS_URL: redis.url, MAX_REQUESTS: '5' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => (out += d));
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`broker process exited with ${code}`);
  });
  const listening = (async () => {
    while (!out.includes('\n')) await once(child.stdout!, 'data');
    return `http://127.0.0.1:${(JSON.parse(out.split('\n')[0]!) as { port: number }).port}`;
  })();
  return Promise.race([listening, exited]);
}

beforeAll(async () => {
  redis = await RedisServer.start();
}, 30_000);

afterAll(async () => {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin!.end();
      await exited;
    }),
  );
  await redis?.stop();
});

describe('a rate limit shared by two broker processes through Redis', () => {
  it('counts requests to either process in one window per tenant', async () => {
    const [a, b] = await Promise.all([brokerProcess(), brokerProcess()]);
    const get = (url: string, tenant: string) => fetch(`${url}/sessions`, { headers: { authorization: `Bearer ${tenant}` } });
    const remaining: string[] = [];
    for (const url of [a, b, a, b, a]) {
      const res = await get(url, 'acme');
      expect(res.status).toBe(200);
      remaining.push(res.headers.get('ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '0']);
    for (const url of [b, a]) {
      const res = await get(url, 'acme');
      expect(res.status).toBe(429);
      expect((await res.json()).error.code).toBe('RATE_LIMITED');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Another tenant is unaffected on both.
    expect((await get(b, 'globex')).status).toBe(200);
    expect((await get(a, 'globex')).headers.get('ratelimit-remaining')).toBe('3');
    // Sessions run on one process are visible through the other (same tenant) via the store.
    const exec = await fetch(`${a}/execute`, {
      method: 'POST',
      headers: { authorization: 'Bearer initech', 'content-type': 'application/json' },
      body: '{"code":"return 40 + 2"}',
    });
    expect(exec.status).toBe(200);
    await exec.text();
    const id = exec.headers.get('x-session-id')!;
    const info = await fetch(`${b}/sessions/${id}`, { headers: { authorization: 'Bearer initech' } });
    expect((await info.json()).status).toBe('completed');
    expect((await fetch(`${b}/sessions/${id}`, { headers: { authorization: 'Bearer acme2' } })).status).toBe(404);
  });
});
