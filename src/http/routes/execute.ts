import type { Context, Hono } from 'hono';
import { compileFilter } from '../../protocol/events.js';
import { createSessionRequestSchema, executeRequestSchema, fromUpstreamFilter } from '../../protocol/schemas.js';
import type { CreateSessionInput } from '../../session/manager.js';
import { readJson } from '../body.js';
import { ndjsonStream, ndjsonText } from '../stream.js';
import type { AppEnv, HttpDeps } from '../types.js';
import type { EventFilter } from '../../protocol/events.js';

/**
 * How long the first answer waits for a silent session to finish before it starts streaming:
 * this long after its code started running (a busy worker may queue it first), at most
 * FAST_PATH_MAX_MS in all. A session that emits anything (a tool call, output) is streamed at
 * once; one that finishes in time is sent as one string, which costs a fraction of a stream on
 * Node.
 */
const FAST_PATH_WAIT_MS = 20;
const FAST_PATH_MAX_MS = 1000;

/** The mount prefix, from the route's own path ('' at the root, '/enclave' when mounted). */
function basePath(c: Context<AppEnv>, suffix: string): string {
  const path = c.req.path;
  return path.endsWith(suffix) ? path.slice(0, path.length - suffix.length) : '';
}

async function run(c: Context<AppEnv>, deps: HttpDeps, input: CreateSessionInput, filter: EventFilter | undefined): Promise<Response> {
  const session = await deps.sessions.create({ ...input, identity: c.get('identity'), attached: true });
  const accept = compileFilter(filter);
  const headers = { 'X-Session-ID': session.id };
  // A script that finishes at once is sent as one string (much cheaper than a stream on Node);
  // anything that emits an event first, or runs longer, is streamed.
  await session.settled();
  if (!session.finalVisible) await session.progress(FAST_PATH_WAIT_MS, FAST_PATH_MAX_MS);
  if (session.finalVisible) return ndjsonText(c, session.events, accept, headers);
  return ndjsonStream(c, session.readAsCreator(accept), headers);
}

export function executeRoutes(app: Hono<AppEnv>, deps: HttpDeps): void {
  app.post('/execute', async (c) => {
    const body = await readJson(c, executeRequestSchema, deps.maxBodyBytes);
    const limits = { ...body.limits };
    if (body.timeout !== undefined) limits.timeoutMs = Math.min(body.timeout, limits.timeoutMs ?? Infinity);
    if (body.maxToolCalls !== undefined) limits.maxToolCalls = Math.min(body.maxToolCalls, limits.maxToolCalls ?? Infinity);
    return run(c, deps, { code: body.code, context: body.context, limits, basePath: basePath(c, '/execute') }, body.filter);
  });

  // Upstream EnclaveJS clients create sessions this way.
  app.post('/sessions', async (c) => {
    const body = await readJson(c, createSessionRequestSchema, deps.maxBodyBytes);
    const limits: CreateSessionInput['limits'] = {};
    if (body.config?.maxExecutionMs !== undefined) limits.timeoutMs = body.config.maxExecutionMs;
    if (body.config?.maxToolCalls !== undefined) limits.maxToolCalls = body.config.maxToolCalls;
    if (body.config?.heartbeatIntervalMs !== undefined) limits.heartbeatIntervalMs = body.config.heartbeatIntervalMs;
    return run(
      c,
      deps,
      { code: body.code, id: body.sessionId, context: body.context, limits, basePath: basePath(c, '/sessions') },
      body.filter && 'mode' in body.filter ? fromUpstreamFilter(body.filter) : body.filter,
    );
  });
}
