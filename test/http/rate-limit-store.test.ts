import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { startBroker, type TestServer } from '../helpers/broker.js';
import { RedisServer } from '../helpers/redis-server.js';

let redis: RedisServer;
let server: TestServer | undefined;
const clients: Redis[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
}, 30_000);

afterAll(async () => {
  await server?.close();
  for (const c of clients) c.disconnect();
  await redis?.stop();
});

describe('rate limiting while its store is down', () => {
  it('answers 503 STORE_UNAVAILABLE with Retry-After: 1, and counts again once the store is back', { timeout: 30_000 }, async () => {
    const client = new Redis(redis.url);
    client.on('error', () => undefined);
    clients.push(client);
    server = await startBroker({ store: new RedisStore(client, { commandTimeoutMs: 2000 }), rateLimiting: { windowMs: 60_000, maxRequests: 100 } });

    const ok = await fetch(`${server.url}/sessions`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('ratelimit-remaining')).toBe('99');
    await ok.body?.cancel();

    await redis.stop();
    const refused = await fetch(`${server.url}/sessions`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toEqual({ error: { code: 'STORE_UNAVAILABLE', message: 'the rate-limit store cannot be reached' } });

    await redis.start();
    // The same client reconnects by itself (the restarted server is empty: a new window).
    await expect
      .poll(async () => {
        const res = await fetch(`${server!.url}/sessions`);
        await res.body?.cancel();
        return res.status;
      }, { timeout: 15_000, interval: 100 })
      .toBe(200);
  });
});
