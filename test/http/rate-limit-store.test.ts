import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onError } from '../../src/http/errors.js';
import { createRateLimiter } from '../../src/http/rate-limit.js';
import type { AppEnv } from '../../src/http/types.js';
import { silentLogger } from '../../src/logger.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import type { Counters } from '../../src/store/types.js';
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
      .poll(
        async () => {
          const res = await fetch(`${server!.url}/sessions`);
          await res.body?.cancel();
          return res.status;
        },
        { timeout: 15_000, interval: 100 },
      )
      .toBe(200);
  });
});

describe('createRateLimiter', () => {
  it('needs only counters: an object with increment() alone limits requests', async () => {
    const memory = new MemoryStore();
    const keys: string[] = [];
    // What the Workers front door passes: counters kept elsewhere (there, a Durable Object).
    const counters: Counters = {
      increment: (key, windowMs) => {
        keys.push(key);
        return memory.increment(key, windowMs);
      },
    };
    const app = new Hono<AppEnv>();
    app.onError(onError(silentLogger));
    app.use('*', createRateLimiter({ windowMs: 60_000, maxRequests: 2 }, counters, () => '203.0.113.7', silentLogger).middleware);
    app.get('/ping', (c) => c.text('pong'));
    const http = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server));
    });
    try {
      const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/ping`;
      const answers = [await fetch(url), await fetch(url), await fetch(url)];
      expect(answers.map((r) => r.status)).toEqual([200, 200, 429]);
      expect(answers[1]!.headers.get('ratelimit-remaining')).toBe('0');
      expect(await answers[2]!.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
      expect(keys).toEqual(['rl:ip:203.0.113.7', 'rl:ip:203.0.113.7', 'rl:ip:203.0.113.7']);
    } finally {
      await new Promise((r) => http.close(r));
      await memory.close();
    }
  });
});
