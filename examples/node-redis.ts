/**
 * A broker on Node with Redis as the shared store: run several of these behind a load
 * balancer and a tool result or a cancel sent to any of them reaches the session.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=3001 npx tsx examples/node-redis.ts
 */
import Redis from 'ioredis';
import { consoleLogger, serveBroker } from '../adapters/node.js';
import { exampleTools } from './users-tools.js';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
redis.on('error', () => {}); // the broker reports store failures itself (503 STORE_UNAVAILABLE)

const broker = await serveBroker({
  port: Number(process.env.PORT ?? 3001),
  hostname: process.env.HOST ?? '127.0.0.1',
  redis,
  tools: exampleTools(),
  logger: consoleLogger('info'),
  rateLimiting: { windowMs: 60_000, maxRequests: 100 },
  metrics: true,
});
broker.on('session:error', (session, error) => broker.logger.warn({ sessionId: session.id, code: error.code }, 'session failed'));
