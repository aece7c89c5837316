import { Redis as UpstashRedis } from '@upstash/redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UpstashStore } from '../../src/store/upstash.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
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
  faults: {
    async unreachable() {
      const url = `http://127.0.0.1:${await freePort()}`;
      return { store: new UpstashStore(new UpstashRedis({ url, token: 't', retry: false, enableTelemetry: false })), names: `Upstash store at ${url}` };
    },
    // The network to the REST endpoint cut and healed (a TCP proxy in front of the bridge).
    async outage() {
      const proxy = await TcpProxy.start(Number(new URL(bridge.url).port));
      const client = new UpstashRedis({ url: `http://127.0.0.1:${proxy.port}`, token: bridge.token, retry: false, enableTelemetry: false });
      // A stream that broke is noticed within two looks of 200 ms and reopened once the network is back.
      const store = new UpstashStore(client, { commandTimeoutMs: 2000, connectTimeoutMs: 2000, streamCheckMs: 200 });
      await store.connect();
      return {
        store,
        cut: async () => proxy.cut(),
        heal: async () => proxy.heal(),
        resubscribes: true,
        async close() {
          await store.close();
          await proxy.stop();
        },
      };
    },
  },
  async counted() {
    const store = new UpstashStore(upstash());
    await store.connect();
    return { store, requests: () => [...bridge.requests.values()].reduce((a, b) => a + b, 0) };
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

  it('probes a quiet stream without reopening it, and no probe reaches a handler', async () => {
    // Probes seen on the server, by a subscriber of every channel.
    const watcher = inspector.duplicate();
    let probes = 0;
    watcher.on('pmessage', (_pattern: string, _channel: string, message: string) => {
      if (message.startsWith('{"p":')) probes++;
    });
    await watcher.psubscribe('*quiet*');
    const store = new UpstashStore(upstash(), { streamCheckMs: 500 });
    const streamsBefore = bridge.requests.get('/subscribe') ?? 0;
    const got: string[] = [];
    const unsubscribe = await store.subscribe('quiet', (m) => got.push(m));
    await vi.waitFor(() => expect(probes).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 20 });
    // Every probe came back: the stream that opened first is still the one in use.
    expect((bridge.requests.get('/subscribe') ?? 0) - streamsBefore).toBe(1);
    await store.publish('quiet', 'hello');
    await expect.poll(() => got).toEqual(['hello']);
    await unsubscribe();
    await store.close();
    watcher.disconnect();
  });

  it('reports a wrong token as a server error, not as an outage', async () => {
    const store = new UpstashStore(upstash('wrong'));
    const err = await store.getSession('s_x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as { code?: string }).code).not.toBe('STORE_UNAVAILABLE');
    expect((err as Error).message).toContain('Unauthorized');
  });
});
