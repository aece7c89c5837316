import { Hono, type Context } from 'hono';
import { bodyTaken } from '../../src/http/body.js';
import type { AppEnv } from '../../src/http/types.js';
import type { CallerIdentity } from '../../src/tools/types.js';
import type { NamespaceLike, SessionStub } from './options.js';

/**
 * The wire between the Worker and a session object: the Worker forwards a request with the
 * session id, its mount prefix and the caller's identity in internal headers, which it always
 * overwrites (objects are reachable only through the binding); the object reads them back.
 */
const H_SESSION = 'x-enclave-session-id';
const H_BASE = 'x-enclave-base';
const H_IDENTITY = 'x-enclave-identity';
const INTERNAL = [H_SESSION, H_BASE, H_IDENTITY];

/**
 * Sends the request to the object of session `id` (with `body` instead of the request's own
 * when given) and answers what it answers, with the headers the Worker's middleware prepared
 * (CORS, `RateLimit-*`) added. The request id goes along, so both sides log the same one.
 */
export async function forward(c: Context<AppEnv>, sessions: NamespaceLike<SessionStub>, id: string, base: string, body?: BodyInit | null): Promise<Response> {
  const headers = new Headers(c.req.raw.headers);
  for (const h of INTERNAL) headers.delete(h);
  headers.set(H_SESSION, id);
  headers.set(H_BASE, base);
  const identity = c.get('identity');
  if (identity) headers.set(H_IDENTITY, encodeURIComponent(JSON.stringify(identity)));
  const requestId = c.get('requestId');
  if (requestId) headers.set('X-Request-Id', requestId);
  const init: RequestInit = { method: c.req.method, headers };
  if (body !== undefined) init.body = body;
  else if (c.req.raw.body) {
    init.body = c.req.raw.body;
    // The object reads it (and drains what it does not need): the Worker must leave it alone.
    bodyTaken(c.req.raw);
  }
  const res = await sessions.get(sessions.idFromName(id)).fetch(new Request(c.req.url, init));
  return c.newResponse(res.body, res);
}

/** The id the Worker chose for the session a request creates (the object's name). */
export function sessionIdOf(request: Request): string | undefined {
  return request.headers.get(H_SESSION) ?? undefined;
}

/** The Worker's mount prefix of a forwarded request. */
export function baseOf(request: Request): string {
  return request.headers.get(H_BASE) ?? '';
}

/** The session object's app under the Worker's mount prefix, with the identity the Worker sent. */
export function mountAt(base: string, inner: Hono<AppEnv>): Hono {
  const outer = new Hono<AppEnv>();
  outer.use('*', async (c, next) => {
    const raw = c.req.header(H_IDENTITY);
    c.set('identity', raw ? (JSON.parse(decodeURIComponent(raw)) as CallerIdentity) : undefined);
    await next();
  });
  return outer.route(base || '/', inner) as unknown as Hono;
}
