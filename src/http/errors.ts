import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { BrokerError, CODE_FOR_STATUS } from '../protocol/errors.js';
import type { Logger } from '../logger.js';

/** The JSON error answer of SPEC §4. */
export function errorResponse(err: BrokerError): Response {
  const headers = new Headers({ 'Content-Type': 'application/json; charset=utf-8' });
  for (const [k, v] of Object.entries(err.headers ?? {})) headers.set(k, v);
  return new Response(JSON.stringify(err.toJSON()), { status: err.status, headers });
}

/** The same answer built by the context, so that it carries the headers middleware prepared. */
export function errorReply(c: Context, err: BrokerError): Response {
  const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8', ...err.headers };
  return c.body(JSON.stringify(err.toJSON()), err.status as 400, headers);
}

/** Maps anything thrown by a route to a coded answer; a 500 never shows host details. */
export function onError(logger: Logger) {
  return (err: Error, c: Context): Response => {
    if (err instanceof BrokerError) return errorReply(c, err);
    if (err instanceof HTTPException) {
      const code = (err.status < 500 && CODE_FOR_STATUS[err.status]) || 'INTERNAL_ERROR';
      return errorReply(c, new BrokerError(code, err.status >= 500 ? 'internal error' : err.message || code));
    }
    logger.error({ err: err?.message, stack: err?.stack, path: c.req.path }, 'unhandled error in a route');
    return errorReply(c, new BrokerError('INTERNAL_ERROR', 'internal error'));
  };
}

export function notFound(c: Context): Response {
  return errorReply(c, new BrokerError('NOT_FOUND', `no route ${c.req.method} ${c.req.path}`));
}
