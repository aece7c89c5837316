import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../src/protocol/events.js';
import { permissionMatcher } from '../../src/tools/permissions.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { collect, eventReader, finalOf, postJson, startBroker, type TestServer } from '../helpers/broker.js';

const runs: Record<string, number> = {};
function registry(): ToolRegistry {
  const tools = new ToolRegistry();
  for (const name of ['users:list', 'users:get', 'admin:delete', 'orders:list']) {
    tools.register({
      name,
      description: `The ${name} tool`,
      parameters: {},
      handler: async () => {
        runs[name] = (runs[name] ?? 0) + 1;
        return name;
      },
    });
  }
  return tools;
}

// The guest tries each tool and reports what happened.
const TRY_ALL = `
  const out = {};
  for (const name of context.names) {
    try { out[name] = await callTool(name, {}); }
    catch (e) { out[name] = e.code; }
  }
  return out;`;

const PERMS: Record<string, string[] | undefined> = {
  users: ['users:*'],
  none: [],
  all: undefined,
  two: ['users:get', '{orders,admin}:list'],
};

let server: TestServer;
beforeAll(async () => {
  server = await startBroker({
    tools: registry(),
    authentication: {
      type: 'bearer',
      validate: async (token) => (token in PERMS ? { valid: true, userId: token, permissions: PERMS[token] } : { valid: false }),
    },
  });
});
afterAll(() => server.close());

async function tryAll(token: string, names: string[]) {
  const res = await postJson(`${server.url}/execute`, { code: TRY_ALL, context: { names } }, { authorization: `Bearer ${token}` });
  expect(res.status).toBe(200);
  const reader = eventReader(res);
  return finalOf(await reader.rest());
}

describe('permissions', () => {
  const names = ['users:list', 'users:get', 'admin:delete', 'orders:list'];

  it('allows tools matching users:* and denies the rest without running their handler', async () => {
    const before = { ...runs };
    const final = await tryAll('users', names);
    expect(final.result).toEqual({
      'users:list': 'users:list',
      'users:get': 'users:get',
      'admin:delete': 'TOOL_PERMISSION_DENIED',
      'orders:list': 'TOOL_PERMISSION_DENIED',
    });
    expect(runs['admin:delete'] ?? 0).toBe(before['admin:delete'] ?? 0);
    expect(runs['orders:list'] ?? 0).toBe(before['orders:list'] ?? 0);
    expect(runs['users:list']).toBe((before['users:list'] ?? 0) + 1);
  });

  it('an empty list allows no server tool; no list allows every one', async () => {
    const denied = await tryAll('none', names);
    expect(Object.values(denied.result as object)).toEqual(names.map(() => 'TOOL_PERMISSION_DENIED'));
    const allowed = await tryAll('all', names);
    expect(allowed.result).toEqual(Object.fromEntries(names.map((n) => [n, n])));
  });

  it('supports exact names and brace globs', async () => {
    const final = await tryAll('two', names);
    expect(final.result).toEqual({
      'users:list': 'TOOL_PERMISSION_DENIED',
      'users:get': 'users:get',
      'admin:delete': 'TOOL_PERMISSION_DENIED',
      'orders:list': 'orders:list',
    });
  });

  it('denies with a message naming the tool, and the session goes on', async () => {
    const res = await postJson(
      `${server.url}/execute`,
      { code: 'try { await callTool("admin:delete", {}) } catch (e) { return [e.code, e.message, e instanceof Error] }' },
      { authorization: 'Bearer users' },
    );
    const events = await eventReader(res).rest();
    const final = finalOf(events);
    expect(final.ok).toBe(true);
    const [code, message, isError] = final.result as [string, string, boolean];
    expect(code).toBe('TOOL_PERMISSION_DENIED');
    expect(message).toContain('admin:delete');
    expect(isError).toBe(true);
    const applied = events.find((e) => e.type === 'tool_result_applied') as Extract<StreamEvent, { type: 'tool_result_applied' }>;
    expect(applied.payload.ok).toBe(false);
  });

  it('does not gate client tools (SPEC §9)', async () => {
    const res = await postJson(`${server.url}/execute`, { code: 'return await callTool("client:pick", {})' }, { authorization: 'Bearer none' });
    const reader = eventReader(res);
    const call = (await reader.until('tool_call')) as Extract<StreamEvent, { type: 'tool_call' }>;
    expect(call.payload.handler).toBe('client');
    const ok = await postJson(
      `${server.url}/sessions/${res.headers.get('x-session-id')}/tool-result`,
      { callId: call.payload.callId, result: 'picked' },
      { authorization: 'Bearer none' },
    );
    expect(ok.status).toBe(200);
    expect(finalOf(await reader.rest()).result).toBe('picked');
  });

  it('gates a toolHandler fallback and the programmatic API identity too', async () => {
    let handled = 0;
    const s = await startBroker({
      toolHandler: async (_args, ctx) => {
        handled++;
        return ctx?.toolName;
      },
    });
    try {
      const denied = finalOf(
        await collect(s.broker.execute(TRY_ALL, { context: { names: ['db:drop'] }, identity: { userId: 'u', permissions: ['users:*'] } })),
      );
      expect(denied.result).toEqual({ 'db:drop': 'TOOL_PERMISSION_DENIED' });
      expect(handled).toBe(0);
      const allowed = finalOf(
        await collect(s.broker.execute(TRY_ALL, { context: { names: ['users:x'] }, identity: { userId: 'u', permissions: ['users:*'] } })),
      );
      expect(allowed.result).toEqual({ 'users:x': 'users:x' });
      expect(handled).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe('permissionMatcher and getDocumentation', () => {
  it('matches globs', () => {
    const allow = permissionMatcher(['users:*', 'orders:get']);
    expect(allow('users:list')).toBe(true);
    expect(allow('orders:get')).toBe(true);
    expect(allow('orders:list')).toBe(false);
    expect(allow('admin:users:list')).toBe(false);
    expect(permissionMatcher(undefined)('anything')).toBe(true);
    expect(permissionMatcher([])('anything')).toBe(false);
  });

  it('filters the documentation to the allowed tools', () => {
    const tools = registry();
    const doc = tools.getDocumentation(permissionMatcher(['users:*']));
    expect(doc).toContain('users:list');
    expect(doc).toContain('users:get');
    expect(doc).not.toContain('admin:delete');
    expect(doc).not.toContain('orders:list');
    const all = tools.getDocumentation();
    expect(all).toContain('admin:delete');
    expect(tools.getDocumentation(permissionMatcher([]))).not.toContain('users:list');
  });
});
