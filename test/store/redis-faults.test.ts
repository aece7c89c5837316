import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import type { SessionRecord } from '../../src/store/types.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

function client(url = server.url): Redis {
  const c = new Redis(url);
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

function record(id: string): SessionRecord {
  const now = Date.now();
  return { id, status: 'running', createdAt: now, expiresAt: now + 60_000, owner: 'a', lastSeq: 0 };
}

async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 8000;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('redis store faults', () => {
  it('rejects connect() with STORE_UNAVAILABLE naming host:port when nothing listens', async () => {
    const port = await freePort();
    const store = new RedisStore(client(`redis://127.0.0.1:${port}`));
    const err = (await store.connect().catch((e: unknown) => e)) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('STORE_UNAVAILABLE');
    expect(err.message).toContain(`Redis store at 127.0.0.1:${port} cannot be reached`);
  });

  it('fails commands with STORE_UNAVAILABLE while Redis is down, and recovers by itself', { timeout: 30_000 }, async () => {
    const store = new RedisStore(client(), { commandTimeoutMs: 2000 });
    await store.connect();
    const received: string[] = [];
    await store.subscribe('events', (m) => received.push(m));
    await store.createSession(record('s_before'));
    expect(await store.getSession('s_before')).not.toBeNull();

    await server.stop();
    for (const attempt of [
      () => store.getSession('s_before'),
      () => store.appendEvents('s_before', [], { status: 'completed' }),
      () => store.increment('k', 1000),
      () => store.publish('events', 'lost'),
      () => store.subscribe('other', () => undefined),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    }

    await server.start();
    // Same store object: ioredis reconnects on its own; scripts are reloaded after the restart.
    await eventually(async () => {
      await store.createSession(record('s_after'));
    });
    expect(await store.getSession('s_after')).toMatchObject({ id: 's_after', status: 'running' });
    expect((await store.increment('k', 60_000)).count).toBe(1);
    // The subscriber connection resubscribes too.
    await eventually(async () => {
      await store.publish('events', 'back');
      expect(received).toContain('back');
    });
    expect(received).not.toContain('lost');
    await store.close();
  });
});

describe('redis store round trips', () => {
  it('costs one command per store call once its scripts are loaded', async () => {
    const c = client();
    const store = new RedisStore(c);
    await store.connect();
    let commands = 0;
    const send = c.sendCommand.bind(c);
    c.sendCommand = ((command: Parameters<typeof send>[0], stream?: Parameters<typeof send>[1]) => {
      commands++;
      return send(command, stream);
    }) as typeof c.sendCommand;
    const event = (seq: number) =>
      ({ protocolVersion: 2, sessionId: 's_rt', seq, timestamp: 0, type: 'stdout', payload: { chunk: 'x' } }) as const;
    const calls: Array<() => Promise<unknown>> = [
      () => store.createSession(record('s_rt'), [event(1)]),
      () => store.appendEvents('s_rt', [event(2)], { status: 'completed' }),
      () => store.getSession('s_rt'),
      () => store.readEvents('s_rt', 0),
      () => store.listSessions(undefined),
      () => store.addPendingCall('s_rt', 'c_1'),
      () => store.claimPendingCall('s_rt', 'c_1'),
      () => store.increment('rt', 1000),
    ];
    // connect() loaded the scripts: even the first call of each is one command.
    for (const call of calls) {
      commands = 0;
      await call();
      expect(commands).toBe(1);
    }
  });
});
