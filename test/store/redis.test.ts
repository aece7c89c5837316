import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { RedisServer } from '../helpers/redis-server.js';
import { storeContract } from './contract.js';

let server: RedisServer;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await server?.stop();
});

function client(): Redis {
  const c = new Redis(server.url, { lazyConnect: true });
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
});
