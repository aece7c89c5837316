import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';
import { storeContract } from './contract.js';
import { countCommands } from './count-commands.js';

let server: RedisServer;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await server?.stop();
});

function client(url = server.url, options: { lazyConnect?: boolean } = { lazyConnect: true }): Redis {
  const c = new Redis(url, options);
  // Fault cases stop servers: the store sees the outage as failed commands.
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

storeContract('redis', {
  async create(options) {
    return new RedisStore(client(), options);
  },
  async keys() {
    const c = client();
    const names = await c.keys('*');
    return Promise.all(names.map(async (key) => ({ key, pttl: await c.pttl(key) })));
  },
  faults: {
    async unreachable() {
      const port = await freePort();
      return { store: new RedisStore(client(`redis://127.0.0.1:${port}`, {})), names: `Redis store at 127.0.0.1:${port}` };
    },
    // A redis-server of its own, stopped and started again (empty: nothing is persisted).
    async outage() {
      const own = await RedisServer.start();
      const store = new RedisStore(client(own.url, {}), { commandTimeoutMs: 2000 });
      await store.connect();
      return {
        store,
        cut: () => own.stop(),
        heal: () => own.start(),
        resubscribes: true,
        async close() {
          await store.close();
          await own.stop();
        },
      };
    },
  },
  async counted() {
    const c = client(server.url, {});
    const store = new RedisStore(c);
    await store.connect();
    return { store, requests: countCommands(c) };
  },
});
