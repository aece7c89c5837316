import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthConfig } from '../../src/http/types.js';
import type { SessionInfo } from '../../src/session/types.js';
import type { ExecutionContext } from '../../src/tools/types.js';
import { ToolRegistry } from '../../src/tools/registry.js';
import { finalOf, postJson, readEvents, startBroker, type TestServer } from '../helpers/broker.js';

// A tiny real HS256 JWT implementation, synchronous like the reference's `verifyJWT`.
const SECRET = 'test-secret-do-not-echo';
const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

function signJWT(claims: Record<string, unknown>, secret = SECRET): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Throws what `jsonwebtoken` throws for a bad token (the broker tells these from an outage). */
function jwtError(message: string, name = 'JsonWebTokenError'): Error {
  return Object.assign(new Error(message), { name });
}

function verifyJWT(token: string): { sub: string; permissions?: string[]; exp?: number } {
  const [head, body, sig] = token.split('.');
  if (!head || !body || !sig) throw jwtError('jwt malformed');
  let header: { alg?: string };
  try {
    header = JSON.parse(Buffer.from(head, 'base64url').toString()) as { alg?: string };
  } catch {
    throw jwtError('invalid token');
  }
  if (header.alg !== 'HS256') throw jwtError('invalid algorithm');
  const expected = createHmac('sha256', SECRET).update(`${head}.${body}`).digest();
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw jwtError('invalid signature');
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as { sub: string; permissions?: string[]; exp?: number };
  if (claims.exp !== undefined && claims.exp * 1000 < Date.now()) throw jwtError('jwt expired', 'TokenExpiredError');
  return claims;
}

const contexts: ExecutionContext[] = [];
function tools(): ToolRegistry {
  const registry = new ToolRegistry();
  registry.register({
    name: 'users:list',
    description: 'List users',
    parameters: {},
    handler: async (_args, ctx) => {
      contexts.push(ctx!);
      return ['alice'];
    },
  });
  return registry;
}

function expectNoLeak(text: string, secret?: string) {
  expect(text).not.toContain('/work/');
  expect(text).not.toContain('node_modules');
  expect(text).not.toMatch(/\bat \S+ \(/);
  if (secret) expect(text).not.toContain(secret);
}

describe('bearer authentication with the reference JWT example', () => {
  let server: TestServer;
  const created: SessionInfo[] = [];
  const called: SessionInfo[] = [];
  const completed: SessionInfo[] = [];

  beforeAll(async () => {
    server = await startBroker({
      tools: tools(),
      authentication: {
        type: 'bearer',
        // As written in the reference.
        validate: async (token) => {
          const decoded = verifyJWT(token);
          return {
            valid: true,
            userId: decoded.sub,
            permissions: decoded.permissions,
          };
        },
      },
    });
    server.broker.on('session:created', (s) => created.push(s));
    server.broker.on('tool:called', (s) => called.push(s));
    server.broker.on('session:completed', (s) => completed.push(s));
  });
  afterAll(() => server.close());

  it('runs code with a valid token and hands the identity to tools and broker events', async () => {
    const token = signJWT({ sub: 'user-42', permissions: ['users:*'] });
    const res = await postJson(`${server.url}/execute`, { code: 'return await callTool("users:list", {})' }, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    const final = finalOf(await readEvents(res));
    expect(final.ok).toBe(true);
    expect(final.result).toEqual(['alice']);
    const ctx = contexts.at(-1)!;
    expect(ctx.userId).toBe('user-42');
    expect(ctx.permissions).toEqual(['users:*']);
    expect(ctx.tenantId).toBeUndefined();
    const id = res.headers.get('x-session-id');
    for (const list of [created, called, completed]) {
      const info = list.find((s) => s.id === id);
      expect(info).toBeDefined();
      expect(info!.userId).toBe('user-42');
      expect(info!.permissions).toEqual(['users:*']);
    }
  });

  it.each([
    ['no header', {}],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['another scheme', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
    ['a bad signature', { authorization: `Bearer ${signJWT({ sub: 'x' }, 'other-secret')}` }],
    ['an expired token', { authorization: `Bearer ${signJWT({ sub: 'x', exp: 1 })}` }],
    ['garbage', { authorization: 'Bearer not.a.jwt' }],
  ])('answers 401 with a challenge for %s', async (_name, headers: Record<string, string>) => {
    const res = await postJson(`${server.url}/execute`, { code: 'return 1' }, headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    expectNoLeak(text, headers.authorization?.slice(7) || undefined);
  });

  it('guards every route but /health', async () => {
    const routes: [string, string][] = [
      ['GET', '/sessions'],
      ['POST', '/sessions'],
      ['GET', '/sessions/s_abc'],
      ['GET', '/sessions/s_abc/events'],
      ['GET', '/sessions/s_abc/stream'],
      ['POST', '/sessions/s_abc/tool-result'],
      ['POST', '/sessions/s_abc/approvals'],
      ['POST', '/sessions/s_abc/cancel'],
      ['DELETE', '/sessions/s_abc'],
      ['GET', '/code/actions'],
      ['GET', '/nope'],
    ];
    for (const [method, path] of routes) {
      const res = await fetch(`${server.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect((await res.json()).error.code).toBe('UNAUTHORIZED');
    }
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect((await health.json()).status).toBe('ok');
  });

  it('answers an OPTIONS preflight without credentials', async () => {
    const res = await fetch(`${server.url}/execute`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
  });

  it('never echoes the token in an error answer', async () => {
    const token = signJWT({ sub: 'user-1' });
    const res = await fetch(`${server.url}/sessions/s_${'x'.repeat(10)}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    expectNoLeak(await res.text(), token);
  });
});

describe('api-key and custom authentication', () => {
  let servers: TestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });
  async function start(authentication: AuthConfig) {
    const s = await startBroker({ tools: tools(), authentication });
    servers.push(s);
    return s;
  }

  it('api-key reads X-API-Key by default', async () => {
    const seen: string[] = [];
    const s = await start({ type: 'api-key', validate: async (key) => (seen.push(key), { valid: key === 'k-1', tenantId: 't-1' }) });
    expect((await postJson(`${s.url}/execute`, { code: 'return 1' })).status).toBe(401);
    const bad = await postJson(`${s.url}/execute`, { code: 'return 1' }, { 'x-api-key': 'k-2' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('X-API-Key');
    const ok = await postJson(`${s.url}/execute`, { code: 'return 1' }, { 'x-api-key': 'k-1' });
    expect(ok.status).toBe(200);
    expect(finalOf(await readEvents(ok)).result).toBe(1);
    expect(seen).toEqual(['k-2', 'k-1']);
  });

  it('api-key honours a configured header name', async () => {
    const s = await start({ type: 'api-key', header: 'X-Broker-Key', validate: async (key) => ({ valid: key === 'sesame', userId: 'u' }) });
    expect((await postJson(`${s.url}/execute`, { code: 'return 1' }, { 'x-api-key': 'sesame' })).status).toBe(401);
    const ok = await postJson(`${s.url}/execute`, { code: 'return 2' }, { 'x-broker-key': 'sesame' });
    expect(ok.status).toBe(200);
    expect(finalOf(await readEvents(ok)).result).toBe(2);
  });

  it('custom receives the whole Authorization header value', async () => {
    const seen: string[] = [];
    const s = await start({ type: 'custom', validate: async (value) => (seen.push(value), { valid: value === 'Token abc', userId: 'u' }) });
    expect((await postJson(`${s.url}/execute`, { code: 'return 1' }, { authorization: 'Token nope' })).status).toBe(401);
    const ok = await postJson(`${s.url}/execute`, { code: 'return 3' }, { authorization: 'Token abc' });
    expect(ok.status).toBe(200);
    expect(finalOf(await readEvents(ok)).result).toBe(3);
    expect(seen).toEqual(['Token nope', 'Token abc']);
  });

  it('a validate that throws is an outage: 503 AUTH_UNAVAILABLE with Retry-After, logged at error; a sync throw too', async () => {
    const logged: { level: string; msg: string }[] = [];
    const record = (level: string) => (_obj: object, msg: string) => void logged.push({ level, msg });
    const logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
    const server = await startBroker({
      logger,
      authentication: {
        type: 'bearer',
        validate: (token) => {
          if (token === 'sync') throw new Error(`/work/secret/path ${token}`);
          return Promise.reject(new Error('connect ECONNREFUSED at Object.<anonymous> (/work/x.js:1:1)'));
        },
      },
    });
    try {
      for (const token of ['sync', 'async']) {
        const res = await postJson(`${server.url}/execute`, { code: 'return 1' }, { authorization: `Bearer ${token}` });
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(res.headers.get('www-authenticate')).toBeNull();
        const text = await res.text();
        expect(JSON.parse(text)).toEqual({ error: { code: 'AUTH_UNAVAILABLE', message: expect.any(String) } });
        expectNoLeak(text);
      }
      expect(logged.filter((l) => l.level === 'error' && /validate threw/.test(l.msg))).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('a validate that throws a token error (jsonwebtoken, jose, or code UNAUTHORIZED) is a 401', async () => {
    const s = await start({
      type: 'bearer',
      validate: async (token) => {
        if (token === 'jsonwebtoken') throw Object.assign(new Error('invalid signature'), { name: 'JsonWebTokenError' });
        if (token === 'expired') throw Object.assign(new Error('jwt expired'), { name: 'TokenExpiredError' });
        if (token === 'jose') throw Object.assign(new Error('signature verification failed'), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
        if (token === 'jwks-down') throw Object.assign(new Error('request timed out'), { code: 'ERR_JWKS_TIMEOUT' });
        throw Object.assign(new Error('unknown API key'), { code: 'UNAUTHORIZED' });
      },
    });
    for (const token of ['jsonwebtoken', 'expired', 'jose', 'mine']) {
      const res = await postJson(`${s.url}/execute`, { code: 'return 1' }, { authorization: `Bearer ${token}` });
      expect(res.status, token).toBe(401);
      expect((await res.json()).error.code).toBe('UNAUTHORIZED');
    }
    const down = await postJson(`${s.url}/execute`, { code: 'return 1' }, { authorization: 'Bearer jwks-down' });
    expect(down.status).toBe(503);
    expect((await down.json()).error.code).toBe('AUTH_UNAVAILABLE');
  });

  it('a validate answering junk (null, valid: "yes") is a 401', async () => {
    const s = await start({
      type: 'bearer',
      validate: async (token) => (token === 'null' ? (null as never) : ({ valid: 'yes' } as never)),
    });
    for (const token of ['null', 'yes']) {
      expect((await postJson(`${s.url}/execute`, { code: 'return 1' }, { authorization: `Bearer ${token}` })).status).toBe(401);
    }
  });

  it('a validate that throws something unreadable is a 503; one that answers a result that throws when read is a 401', async () => {
    const trap = (): never => {
      throw new Error('trap');
    };
    const s = await start({
      type: 'bearer',
      validate: async (token) => {
        if (token === 'thrown') throw { toString: trap };
        if (token === 'valid') return Object.defineProperty({}, 'valid', { get: trap }) as never;
        return Object.defineProperty({ valid: true }, 'permissions', { get: trap }) as never;
      },
    });
    const thrown = await postJson(`${s.url}/execute`, { code: 'return 1' }, { authorization: 'Bearer thrown' });
    expect(thrown.status).toBe(503);
    expect((await thrown.json()).error.code).toBe('AUTH_UNAVAILABLE');
    for (const token of ['valid', 'permissions']) {
      const res = await postJson(`${s.url}/execute`, { code: 'return 1' }, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe('UNAUTHORIZED');
    }
  });

  it('a validate that hangs answers 503 after timeoutMs, and the broker keeps serving', async () => {
    const s = await start({
      type: 'bearer',
      timeoutMs: 200,
      validate: (token) => (token === 'hang' ? new Promise(() => {}) : Promise.resolve({ valid: true, userId: 'u' })),
    });
    const res = await postJson(`${s.url}/execute`, { code: 'return 1' }, { authorization: 'Bearer hang' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await res.json()).error).toEqual({ code: 'AUTH_UNAVAILABLE', message: expect.any(String) });
    const ok = await postJson(`${s.url}/execute`, { code: 'return 4' }, { authorization: 'Bearer fine' });
    expect(finalOf(await readEvents(ok)).result).toBe(4);
  });
});
