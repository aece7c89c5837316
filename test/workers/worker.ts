import { DurableObject } from 'cloudflare:workers';
import { Hono } from 'hono';
import { createEnclaveWorker, type WorkerBrokerOptions } from '../../adapters/workers.js';
import { exampleTools } from '../../examples/users-tools.js';
import { DurableObjectStore } from '../../src/store/durable-object.js';
import type { BrokerStore } from '../../src/store/types.js';
import type { ToolRegistry } from '../../src/tools/registry.js';

/** The test Worker: the example tools, settings from bindings, mounted at / and /enclave. */
interface Env {
  SESSION_TIMEOUT_MS?: string;
  /** Set to serve the inline `pets` OpenAPI source (the conformance suite expects no sources). */
  OPENAPI_PETS?: string;
  /** Set to add `runs:count`, a tool counting its runs per session in the STORE_HOST object. */
  COUNT_RUNS?: string;
  /** Set to add `guarded`, a tool that needs approval and counts its runs per call in STORE_HOST. */
  APPROVALS?: string;
  /** The session objects' `resumeCheckMs`. */
  RESUME_CHECK_MS?: string;
  /** `0`: the broker option `durable: false`. */
  DURABLE?: string;
  /** Set to require this bearer token (user `u`), as the conformance suite's guarded target does. */
  GUARD_TOKEN?: string;
  /** With GUARD_TOKEN: `rateLimiting` of this many requests per RATE_LIMIT_WINDOW_MS. */
  RATE_LIMIT_MAX?: string;
  RATE_LIMIT_WINDOW_MS?: string;
  ENCLAVE_SESSION: { idFromName(name: string): unknown; get(id: unknown): { storageKeys(): Promise<string[]> } };
  STORE_HOST: { idFromName(name: string): unknown; get(id: unknown): { fetch(r: Request): Promise<Response> } };
}

/** An inline OpenAPI spec: the catalog and its cron refresh need no network. */
const PETS_SPEC = {
  openapi: '3.1.0',
  info: { title: 'pets', version: '1' },
  paths: { '/pets': { get: { operationId: 'listPets', summary: 'List pets', responses: { '200': { description: 'ok' } } } } },
};

/** Counts the runs of `runs:count` per session, in an object that outlives the session's object. */
function withRunCounter(tools: ToolRegistry, env: Env): ToolRegistry {
  tools.register({
    name: 'runs:count',
    description: 'Counts its runs in this session',
    parameters: {},
    handler: async (_args, ctx) => {
      const ns = env.STORE_HOST;
      const res = await ns
        .get(ns.idFromName('runs'))
        .fetch(new Request('http://store/__store/runs/increment', { method: 'POST', body: JSON.stringify({ args: [ctx!.sessionId, 600_000] }) }));
      return { runs: ((await res.json()) as { value: { count: number } }).value.count };
    },
  });
  return tools;
}

/** `guarded` needs approval; it counts its runs per callId, in an object that outlives the session's. */
function withApprovals(tools: ToolRegistry, env: Env): ToolRegistry {
  tools.register({
    name: 'guarded',
    description: 'Needs approval',
    parameters: { v: { type: 'number', description: 'echoed' } },
    needsApproval: true,
    handler: async (args, ctx) => {
      const ns = env.STORE_HOST;
      const res = await ns
        .get(ns.idFromName('runs'))
        .fetch(new Request('http://store/__store/runs/increment', { method: 'POST', body: JSON.stringify({ args: [ctx!.callId, 600_000] }) }));
      return { v: args.v, runs: ((await res.json()) as { value: { count: number } }).value.count };
    },
  });
  return tools;
}

/** Bearer authentication accepting `token` (user `u`) and a rate limit. */
function guarded(token: string, maxRequests: number, windowMs: number): WorkerBrokerOptions {
  return {
    authentication: { type: 'bearer', validate: async (t) => ({ valid: t === token, userId: 'u' }) },
    rateLimiting: { windowMs, maxRequests },
  };
}

const enclave = createEnclaveWorker<Env>({
  tools: (env) => {
    const tools = env.COUNT_RUNS ? withRunCounter(exampleTools(), env) : exampleTools();
    return env.APPROVALS ? withApprovals(tools, env) : tools;
  },
  resumeCheckMs: (env) => (env.RESUME_CHECK_MS ? Number(env.RESUME_CHECK_MS) : 10_000),
  broker: (env) => ({
    sessionTimeout: env.SESSION_TIMEOUT_MS ? Number(env.SESSION_TIMEOUT_MS) : undefined,
    ...(env.OPENAPI_PETS ? { openapi: { sources: [{ name: 'pets', spec: PETS_SPEC, baseUrl: 'https://pets.example' }] } } : {}),
    ...(env.DURABLE !== undefined ? { durable: env.DURABLE !== '0' } : {}),
    ...(env.GUARD_TOKEN ? guarded(env.GUARD_TOKEN, Number(env.RATE_LIMIT_MAX), Number(env.RATE_LIMIT_WINDOW_MS)) : {}),
  }),
});

const outer = new Hono<{ Bindings: Env }>();
outer.get('/__test/keys/:id', async (c) => {
  const ns = c.env.ENCLAVE_SESSION;
  return c.json(await ns.get(ns.idFromName(c.req.param('id'))).storageKeys());
});
outer.all('/__store/:name/*', (c) => {
  const ns = c.env.STORE_HOST;
  return ns.get(ns.idFromName(c.req.param('name'))).fetch(c.req.raw);
});
outer.route('/enclave', enclave.app);

export default {
  fetch(request: Request, env: Env, ctx: never): Response | Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path.startsWith('/enclave/') || path.startsWith('/__')) return outer.fetch(request, env, ctx);
    return enclave.worker.fetch(request, env, ctx);
  },
  scheduled(controller: unknown, env: Env, ctx: never): void {
    enclave.worker.scheduled(controller, env, ctx);
  },
};

export class EnclaveSession extends enclave.EnclaveSession {
  /** Every key the session object has in storage (the alarm test checks it is empty). */
  async storageKeys(): Promise<string[]> {
    return [...(await this.ctx.storage.list()).keys()];
  }
}
export const { EnclaveCounters } = enclave;

/**
 * Runs `DurableObjectStore` methods inside a Durable Object for the store contract suite:
 * POST /__store/<name>/<method> with `{ args, maxEventsPerSession }`. Subscriptions are
 * buffered here and polled by the test (`subscribe` answers an id, `poll` its messages).
 */
export class StoreHost extends DurableObject {
  private readonly stores = new Map<string, DurableObjectStore>();
  private readonly subs = new Map<string, { messages: string[]; unsubscribe: () => Promise<void> }>();
  private nextSub = 0;

  override async fetch(request: Request): Promise<Response> {
    const method = new URL(request.url).pathname.split('/').pop()!;
    const body = (await request.json()) as { args?: unknown[]; maxEventsPerSession?: number };
    const args = (body.args ?? []).map(revive);
    const maxEventsPerSession = body.maxEventsPerSession;
    const key = String(maxEventsPerSession ?? '');
    let store = this.stores.get(key);
    if (!store) this.stores.set(key, (store = new DurableObjectStore(this.ctx.storage, { maxEventsPerSession })));
    if (method === 'subscribe') {
      const id = String(++this.nextSub);
      const messages: string[] = [];
      const unsubscribe = await store.subscribe(String(args[0]), (m) => messages.push(m));
      this.subs.set(id, { messages, unsubscribe });
      return Response.json({ value: id });
    }
    if (method === 'poll') {
      const sub = this.subs.get(String(args[0]));
      return Response.json({ value: sub ? sub.messages.splice(0) : [] });
    }
    if (method === 'unsubscribe') {
      await this.subs.get(String(args[0]))?.unsubscribe();
      this.subs.delete(String(args[0]));
      return Response.json({ value: null });
    }
    const fn = (store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method as keyof BrokerStore];
    const value = await fn!.apply(store, args);
    return Response.json({ value: value === undefined ? null : value });
  }

  override async alarm(): Promise<void> {
    for (const store of this.stores.values()) await store.sweep();
  }
}

/** JSON has no `undefined`: the test sends it as a marker (patches remove fields patched to undefined). */
function revive(value: unknown): unknown {
  if (value === '__undefined__') return undefined;
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = revive(v);
    return out;
  }
  return value;
}
