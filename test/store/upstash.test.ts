import { Redis as UpstashRedis } from '@upstash/redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstashStore } from '../../src/store/upstash.js';
import { RedisServer } from '../helpers/redis-server.js';
import { UpstashBridge } from '../helpers/upstash-bridge.js';
import { storeContract } from './contract.js';

let server: RedisServer;
let bridge: UpstashBridge;
let inspector: Redis;

beforeAll(async () => {
  server = await RedisServer.start();
  bridge = await UpstashBridge.start(server.url);
  inspector = new Redis(server.url);
});

afterAll(async () => {
  inspector?.disconnect();
  await bridge?.stop();
  await server?.stop();
});

const upstash = (token = bridge.token) => new UpstashRedis({ url: bridge.url, token, enableTelemetry: false });

storeContract('upstash', {
  async create(options) {
    return new UpstashStore(upstash(), options);
  },
  async keys() {
    const names = await inspector.keys('*');
    return Promise.all(names.map(async (key) => ({ key, pttl: await inspector.pttl(key) })));
  },
});

describe('upstash store', () => {
  it('works with a client that does not deserialize replies', async () => {
    const raw = new UpstashRedis({ url: bridge.url, token: bridge.token, enableTelemetry: false, automaticDeserialization: false });
    const store = new UpstashStore(raw);
    const now = Date.now();
    const rec = { id: 's_raw', status: 'running' as const, createdAt: now, expiresAt: now + 60_000, owner: 'a', lastSeq: 0 };
    await store.createSession(rec);
    expect(await store.getSession('s_raw')).toMatchObject({ ...rec, epoch: 1 });
    expect((await store.increment('raw-counter', 60_000)).count).toBe(1);
    const got: string[] = [];
    const unsubscribe = await store.subscribe('raw', (m) => got.push(m));
    await store.publish('raw', '{"a":1}');
    await expect.poll(() => got).toEqual(['{"a":1}']);
    await unsubscribe();
    await store.close();
  });

  it('sends one request per store call once connected', async () => {
    const store = new UpstashStore(upstash());
    await store.connect();
    const now = Date.now();
    const rec = { id: 's_rt', status: 'running' as const, createdAt: now, expiresAt: now + 60_000, owner: 'a', lastSeq: 0 };
    const event = (seq: number) =>
      ({ protocolVersion: 2, sessionId: 's_rt', seq, timestamp: 0, type: 'stdout', payload: { chunk: 'x' } }) as const;
    const calls: Array<() => Promise<unknown>> = [
      () => store.createSession(rec, [event(1)]),
      () => store.appendEvents('s_rt', [event(2)], { status: 'completed' }),
      () => store.getSession('s_rt'),
      () => store.readEvents('s_rt', 0),
      () => store.listSessions(undefined),
      () => store.addPendingCall('s_rt', 'c_1'),
      () => store.claimPendingCall('s_rt', 'c_1'),
      () => store.increment('rt', 1000),
      () => store.publish('rt', 'm'),
    ];
    const total = () => [...bridge.requests.values()].reduce((a, b) => a + b, 0);
    for (const call of calls) {
      const before = total();
      await call();
      expect(total() - before).toBe(1);
    }
    expect((await store.getSession('s_rt'))!.status).toBe('completed');
  });

  it('reports a wrong token as a server error, not as an outage', async () => {
    const store = new UpstashStore(upstash('wrong'));
    const err = await store.getSession('s_x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: string }).code).not.toBe('STORE_UNAVAILABLE');
    expect((err as Error).message).toContain('Unauthorized');
  });

  it('fails connect() with STORE_UNAVAILABLE naming the URL when nothing answers', async () => {
    const url = `http://127.0.0.1:${(await import('../helpers/redis-server.js').then((m) => m.freePort()))}`;
    const store = new UpstashStore(new UpstashRedis({ url, token: 't', retry: false, enableTelemetry: false }));
    const err = (await store.connect().catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain(`Upstash store at ${url} cannot be reached`);
  });
});
