import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keySlot } from '../../src/store/key-slot.js';
import { RedisStore } from '../../src/store/redis.js';
import { RedisCluster } from '../helpers/redis-cluster.js';
import { storeContract } from './contract.js';
import { countCommands } from './count-commands.js';

// The Redis store on a real three-primary Redis Cluster (ioredis `Cluster`): the whole store
// contract, and what only a cluster has (slots, sharded pub/sub).

let cluster: RedisCluster;
const clients: Cluster[] = [];

beforeAll(async () => {
  cluster = await RedisCluster.start();
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.stop();
});

function client(): Cluster {
  const c = cluster.client();
  clients.push(c);
  return c;
}

storeContract('redis cluster', {
  async create(options) {
    return new RedisStore(client(), options);
  },
  keys: () => cluster.keys(),
});

describe('redis store on a cluster', () => {
  it('computes the hash slot of a key as the cluster does', async () => {
    const c = client();
    const keys = ['enclave:{s_abc}:events', 's_abc', 'plain-key', 'a{}b', '{}{x}', 'x{y', 'é{ü}', 'enclave:lease:{i_1}', ''];
    for (const key of keys) expect(keySlot(key), key).toBe(await c.cluster('KEYSLOT', key));
  });

  it('keeps each session in one slot, spreads sessions over the primaries, and batches a turn per slot', async () => {
    const c = client();
    const store = new RedisStore(c);
    await store.connect();
    const now = Date.now();
    const ids = Array.from({ length: 24 }, (_, i) => `s_slot${i}`);
    const calls = countCommands(c);
    // One turn: a session each, all issued together.
    await Promise.all(
      ids.map((id) =>
        store.createSession({ id, status: 'running', createdAt: now, expiresAt: now + 60_000, owner: 'i_a', lastSeq: 0 }, [
          { protocolVersion: 2, sessionId: id, seq: 1, timestamp: now, type: 'stdout', payload: { chunk: id } },
        ]),
      ),
    );
    const slots = new Set(ids.map((id) => keySlot(`{${id}}`)));
    // One script call per slot touched (the sessions' slots and the tenant index's).
    expect(calls()).toBeLessThanOrEqual(slots.size + 1);
    const keys = await cluster.keys();
    const primaries = new Set<number>();
    for (const id of ids) {
      const own = keys.filter((k) => k.key.includes(`{${id}}`));
      expect(own.map((k) => k.key).sort()).toEqual([`enclave:{${id}}:events`, `enclave:{${id}}:session`]);
      expect(new Set(own.map((k) => k.port)).size).toBe(1);
      primaries.add(own[0]!.port);
    }
    expect(primaries.size).toBeGreaterThan(1);
    expect((await store.readEvents(ids[5]!, 0))[0]).toMatchObject({ payload: { chunk: ids[5] } });
    await store.close();
  });

  it('delivers notifications through sharded pub/sub, whatever primary holds the channel', async () => {
    const [a, b] = [new RedisStore(client()), new RedisStore(client())];
    await Promise.all([a.connect(), b.connect()]);
    const got: string[] = [];
    const channels = Array.from({ length: 6 }, (_, i) => `ev:s_pub${i}`);
    const offs = await Promise.all(channels.map((ch) => b.subscribe(ch, (m) => got.push(`${ch}=${m}`))));
    const received = await Promise.all(channels.map((ch) => a.publish(ch, 'hi')));
    expect(received).toEqual(channels.map(() => 1));
    await expect.poll(() => got.sort()).toEqual(channels.map((ch) => `${ch}=hi`).sort());
    await Promise.all(offs.map((off) => off()));
    await Promise.all([a.close(), b.close()]);
  });
});
