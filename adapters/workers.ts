import type { DurableObjectState, ExecutionContext } from 'cloudflare:workers';
import wasm from '@jitl/quickjs-wasmfile-release-sync/wasm';
import type { Hono } from 'hono';
import type { AppEnv } from '../src/http/types.js';
import { countersObject } from './workers/counters-object.js';
import { frontDoor, mountableFrontDoor, type FrontDoor } from './workers/front-door.js';
import { workerConfig, type EnclaveWorker, type EnclaveWorkerOptions } from './workers/options.js';
import { sessionObject } from './workers/session-object.js';

export type { DurableObjectState, ExecutionContext };
export * from '../src/index.js';
export { DurableObjectStore } from '../src/store/durable-object.js';
export type { CountersStub, EnclaveWorker, EnclaveWorkerHandler, EnclaveWorkerOptions, WorkerBrokerOptions } from './workers/options.js';

/**
 * Cloudflare Workers adapter: one Durable Object per session.
 *
 * ```ts
 * import { createEnclaveWorker, ToolRegistry } from 'enclave-broker/workers';
 * const tools = new ToolRegistry();
 * tools.register({ name: 'users:get', ... });
 * const { worker, EnclaveSession, EnclaveCounters } = createEnclaveWorker({ tools });
 * export default worker;
 * export { EnclaveSession, EnclaveCounters };   // the classes of the DO bindings
 * ```
 *
 * - The Worker answers `GET /health`, `GET /code/actions` and `OPTIONS` itself. `POST /execute`
 *   and `POST /sessions` get a session id at the Worker and go to the object
 *   `idFromName(sessionId)`; every `/sessions/:id/...` route reaches the same object, so tool
 *   results, cancel and replay need no other routing. `GET /sessions` (listing) has no single
 *   object to ask and answers 501 on Workers.
 * - The session object runs QuickJS inline (the `.wasm` imported statically), streams NDJSON,
 *   and keeps the record and event log in `ctx.storage` (`DurableObjectStore`). Its alarm
 *   deletes everything at `expiresAt`. A client disconnect is noticed on the next write (a
 *   heartbeat, every `heartbeatIntervalMs`), then `disconnectGraceMs` applies.
 * - The Worker runs the broker's middleware chain, as `createApp` does: CORS, request ids,
 *   the body drain, and rate limiting before and after authentication (refused credentials
 *   count). The identity and the request id travel to the object in headers the Worker always
 *   overwrites (objects are reachable only through the binding). The object is built by the
 *   same assembly as `EnclaveBroker` (see `src/broker-assembly.ts`).
 * - Files: `workers/options.ts` (options and bindings), `front-door.ts` (the Worker's app),
 *   `forward.ts` (the Worker ↔ object wire), `session-object.ts`, `counters-object.ts`.
 * - Rate-limit counters, `maxConcurrentSessions` and the `/health` session counts live in one
 *   small `EnclaveCounters` object (`idFromName('counters')`): a fixed-window counter per key
 *   and an active/total pair. One object serializes every increment; that is fine for a few
 *   hundred requests a second. Beyond that, shard the key or use the Upstash store for counters.
 * - Tools may be given as a function of `env`, so handlers can use bindings.
 */
export function createEnclaveWorker<Env extends object = Record<string, unknown>>(options: EnclaveWorkerOptions<Env> = {}): EnclaveWorker<Env> {
  const config = workerConfig(options, wasm);
  const startedAt = Date.now();
  let cached: { env: Env; door: FrontDoor } | undefined;
  const doorFor = (env: Env): FrontDoor => {
    if (cached?.env !== env) cached = { env, door: frontDoor(env, config, startedAt) };
    return cached.door;
  };
  const appFor = (env: Env): Hono<AppEnv> => doorFor(env).app;

  const worker = {
    fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
      return appFor(env).fetch(request, env, ctx as never);
    },
    /**
     * A cron trigger (`[triggers] crons` in wrangler.toml) polls the OpenAPI sources: Workers
     * have no timers between requests. Session objects load the sources when they start.
     */
    scheduled(_controller: unknown, env: Env, ctx: ExecutionContext): void {
      ctx.waitUntil(
        doorFor(env)
          .catalog.refresh()
          .then(() => undefined),
      );
    },
  };

  return {
    worker,
    default: worker,
    app: mountableFrontDoor(appFor),
    EnclaveSession: sessionObject(config),
    EnclaveCounters: countersObject<Env>(),
  };
}
