// S3: Redis commands (round trips) per `return 1 + 2` session, counted by a wrapper around the
// ioredis client of an in-process broker on a real redis-server. (S2, a tool result posted to
// another process, is bench/lib/route.mjs: `npm run bench -- S2`.)
// Run: node --import tsx bench/lib/commands.mjs   (needs redis-server)
import { withRedis } from './redis.mjs';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

await withRedis(async (url) => {
  const { EnclaveBroker } = await import('../../src/broker.ts');
  const { Redis } = await import('ioredis');
  const client = new Redis(url);
  const broker = new EnclaveBroker({ logger: silent, redis: client, runtimePool: false, ownerLeaseMs: 600_000 });
  await broker.ready();
  const counts = new Map();
  const send = client.sendCommand.bind(client);
  let counting = false;
  client.sendCommand = (command, stream) => {
    if (counting) counts.set(command.name, (counts.get(command.name) ?? 0) + 1);
    return send(command, stream);
  };
  const sessions = 50;
  for (let i = 0; i < 5; i++) for await (const _ of broker.execute('return 1 + 2'));
  counting = true;
  for (let i = 0; i < sessions; i++) for await (const _ of broker.execute('return 1 + 2'));
  counting = false;
  const total = [...counts.values()].reduce((x, y) => x + y, 0);
  console.log(`S3: ${total / sessions} Redis commands per 'return 1 + 2' session (${[...counts].map(([k, v]) => `${k} ${v / sessions}`).join(', ')})`);
  await broker.close();
  client.disconnect();
});
process.exit(0);
