import { afterAll, expect, it } from 'vitest';
import { EnclaveBroker, ToolRegistry } from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { execute, finalOf } from './helpers/broker.js';

// The reference's Complete Example, as written, without Redis (the in-memory store).
const tools = new ToolRegistry();

tools.register({
  name: 'users:list',
  description: 'List users',
  parameters: {
    limit: { type: 'number', description: 'Max results' },
  },
  handler: async (args) => {
    return [
      { id: '1', name: 'Alice' },
      { id: '2', name: 'Bob' },
    ].slice(0, (args.limit as number) || 10);
  },
});

tools.register({
  name: 'users:get',
  description: 'Get user by ID',
  parameters: {
    id: { type: 'string', description: 'User ID', required: true },
  },
  handler: async (args) => {
    return { id: args.id, name: 'Alice' };
  },
});

const broker = new EnclaveBroker({
  tools,
  sessionTimeout: 300000,
  maxConcurrentSessions: 1000,
  rateLimiting: {
    windowMs: 60000,
    maxRequests: 100,
  },
  logger: silentLogger,
});

const created: string[] = [];
const called: string[] = [];
broker.on('session:created', (session) => {
  created.push(session.id);
});
broker.on('tool:called', (_session, tool, args) => {
  called.push(`${tool} ${JSON.stringify(args)}`);
});

afterAll(() => broker.close());

it('runs the reference Complete Example as written', async () => {
  await broker.listen(0);
  const url = `http://127.0.0.1:${broker.port}`;
  const events = await execute(url, {
    code: 'const all = await callTool("users:list", { limit: 1 }); const one = await callTool("users:get", { id: "2" }); return { all, one }',
  });
  expect(finalOf(events).result).toEqual({ all: [{ id: '1', name: 'Alice' }], one: { id: '2', name: 'Alice' } });
  expect(created).toEqual([events[0]!.sessionId]);
  expect(called).toEqual(['users:list {"limit":1}', 'users:get {"id":"2"}']);
  const res = await fetch(`${url}/health`);
  expect((await res.json()).sessions.total).toBe(1);
  const limited = await fetch(`${url}/sessions/${events[0]!.sessionId}`);
  expect(limited.headers.get('ratelimit-limit')).toBe('100');
});
