// A server under test, in its own process (Node with tsx, or Bun). Prints its port on the
// first stdout line and exits when stdin closes.
//   node --import tsx bench/lib/server.mjs '{"kind":"broker","pool":true}'
//   bun bench/lib/server.mjs '{"kind":"bare"}'
// kind "bare": a Hono POST /execute streaming two fixed NDJSON lines through a ReadableStream.
// kind "broker": EnclaveBroker with options: pool (default true; an object is the runtimePool), redis (url), redisCluster
// ("host:port,…"), secure (bearer auth + rate limiting with a high limit), timeoutMs, durable (default: the broker's,
// true), mcp (the MCP endpoint at /mcp).
const config = JSON.parse(process.argv[2] ?? process.env.BENCH_SERVER ?? '{}');
config.port ??= process.env.PORT ? Number(process.env.PORT) : undefined;
const isBun = typeof globalThis.Bun !== 'undefined';
import { TOKEN } from './tokens.mjs';

const LINES = [
  '{"protocolVersion":2,"sessionId":"s_bench","seq":1,"timestamp":0,"type":"session_init","payload":{}}\n',
  '{"protocolVersion":2,"sessionId":"s_bench","seq":2,"timestamp":0,"type":"final","payload":{"ok":true,"result":3}}\n',
].map((l) => new TextEncoder().encode(l));

let port;
let stop;
if (config.kind === 'bare') {
  const { Hono } = await import('hono');
  const app = new Hono();
  app.post(
    '/execute',
    () =>
      new Response(
        new ReadableStream({
          start(controller) {
            for (const line of LINES) controller.enqueue(line);
            controller.close();
          },
        }),
        { headers: { 'content-type': 'application/x-ndjson' } },
      ),
  );
  if (isBun) {
    const server = Bun.serve({ fetch: app.fetch, port: config.port ?? 0, hostname: '127.0.0.1' });
    port = server.port;
    stop = async () => server.stop(true);
  } else {
    const { serve } = await import('@hono/node-server');
    const server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: config.port ?? 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    port = server.address().port;
    stop = () => new Promise((r) => server.close(() => r()));
  }
} else {
  const { EnclaveBroker, ToolRegistry } = await import('./built.mjs');
  const tools = new ToolRegistry();
  tools.register({ name: 'noop', description: 'does nothing', parameters: {}, handler: async () => null });
  let redis;
  if (config.redis) {
    const { Redis } = await import('ioredis');
    redis = new Redis(config.redis);
  } else if (config.redisCluster) {
    // "host:port,host:port,…": an ioredis Cluster.
    const { Cluster } = await import('ioredis');
    redis = new Cluster(config.redisCluster.split(',').map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) })));
  }
  const broker = new EnclaveBroker({
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    tools,
    ...(config.pool === false ? { runtimePool: false } : typeof config.pool === 'object' ? { runtimePool: config.pool } : {}),
    ...(redis ? { redis } : {}),
    limits: { timeoutMs: config.timeoutMs ?? 30_000, maxToolCalls: 10_000 },
    maxConcurrentSessions: 10_000,
    ...(config.durable !== undefined ? { durable: config.durable } : {}),
    ...(config.mcp ? { mcp: { server: true } } : {}),
    ...(config.secure
      ? {
          authentication: { type: 'bearer', validate: async (t) => ({ valid: t === TOKEN, tenantId: 'bench', permissions: ['*'] }) },
          rateLimiting: { windowMs: 60_000, maxRequests: 1e9 },
        }
      : {}),
  });
  await broker.listen(config.port ?? 0, '127.0.0.1');
  port = broker.port;
  stop = async () => {
    await broker.close();
    await redis?.quit();
  };
}

process.stdout.write(`${port}\n`);
let stopping = false;
const end = () => {
  if (stopping) return;
  stopping = true;
  Promise.race([stop(), new Promise((r) => setTimeout(r, 2000))]).finally(() => process.exit(0));
};
process.stdin.on('end', end);
process.stdin.on('close', end);
process.stdin.resume();
