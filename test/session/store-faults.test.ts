import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import { silentLogger } from '../../src/logger.js';
import { eventReader, execute, finalOf, postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';

const clients: Redis[] = [];
function client(url: string): Redis {
  const c = new Redis(url);
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

afterAll(() => {
  for (const c of clients) c.disconnect();
});

describe('a broker on Redis when Redis fails', () => {
  it('rejects listen() with a clear message when Redis cannot be reached', async () => {
    const port = await freePort();
    const broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false, redis: client(`redis://127.0.0.1:${port}`) });
    const err = (await broker.listen(0, '127.0.0.1').catch((e: unknown) => e)) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain(`Redis store at 127.0.0.1:${port} cannot be reached`);
    expect(broker.port).toBeUndefined();
    await broker.close();
  });

  describe('while running', () => {
    let redis: RedisServer;
    let server: TestServer;
    beforeAll(async () => {
      redis = await RedisServer.start();
      server = await startBroker({ runtimePool: false, redis: client(redis.url), limits: { heartbeatIntervalMs: 60_000 } });
    });
    afterAll(async () => {
      await server?.close();
      await redis?.stop();
    });

    it('answers 503 STORE_UNAVAILABLE, holds running sessions until Redis is back, writes them back and finishes them', async () => {
      const res = await postJson(`${server.url}/execute`, { code: 'return await callTool("client:ask", {})' });
      const id = res.headers.get('x-session-id')!;
      const reader = eventReader(res);
      const call = await reader.until('tool_call');
      if (call.type !== 'tool_call') throw new Error('no call');

      await redis.stop();
      for (const attempt of [
        () => postJson(`${server.url}/execute`, { code: 'return 1' }),
        () => fetch(`${server.url}/sessions/s_unknown`),
        () => fetch(`${server.url}/sessions/s_unknown/events`),
        () => fetch(`${server.url}/sessions`),
      ]) {
        const answer = await attempt();
        expect(answer.status).toBe(503);
        expect((await answer.json()).error.code).toBe('STORE_UNAVAILABLE');
        expect(answer.headers.get('retry-after')).toBe('1');
      }
      expect((await fetch(`${server.url}/health`)).status).toBe(200);

      // The answer is taken but not confirmed while it cannot be journaled: the session shows
      // nothing it could not store (another process may own it by the time the store is back).
      const answered = postJson(`${server.url}/sessions/${id}/tool-result`, { callId: call.payload.callId, result: 'offline' });
      const rest = reader.rest();
      await redis.start();
      // Redis is back empty: the owner writes the session back and goes on.
      expect((await answered).status).toBe(200);
      const followed = await rest;
      expect(finalOf(followed)).toMatchObject({ ok: true, result: 'offline' });
      expect((await (await fetch(`${server.url}/health`)).json()).sessions.active).toBe(0);
      expect(await (await fetch(`${server.url}/sessions/${id}`)).json()).toMatchObject({ status: 'completed' });
      const stored = await readEvents(await fetch(`${server.url}/sessions/${id}/events`));
      expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
      expect(stored.slice(-followed.length)).toEqual(followed);
      expect(stored.filter((e) => e.type === 'final')).toHaveLength(1);

      // Redis comes back on the same port (empty): the same broker works again by itself.
      await redis.start();
      const events = await (async () => {
        const deadline = Date.now() + 15_000;
        for (;;) {
          try {
            return await execute(server.url, { code: 'return 1 + 2' });
          } catch (err) {
            if (Date.now() > deadline) throw err;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      })();
      expect(finalOf(events)).toMatchObject({ ok: true, result: 3 });
      const info = await (await fetch(`${server.url}/sessions/${events[0]!.sessionId}`)).json();
      expect(info).toMatchObject({ status: 'completed' });
    });
  });
});
