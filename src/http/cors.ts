import type { MiddlewareHandler } from 'hono';
import { errorText } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import type { AppEnv, CorsConfig } from './types.js';

const ALLOW_METHODS = 'GET,POST,DELETE,OPTIONS';
const ALLOW_HEADERS = 'Authorization,Content-Type,Last-Event-ID,X-API-Key,X-Request-Id,Mcp-Session-Id,Mcp-Protocol-Version';
const EXPOSE_HEADERS = 'X-Session-ID,X-Request-Id,Retry-After,RateLimit-Limit,RateLimit-Remaining,RateLimit-Reset,Mcp-Session-Id';
const MAX_AGE = '600';

/**
 * CORS. The headers go into the context's prepared headers before the route runs, so every
 * answer built by the context (`c.body`, `c.json`) carries them. Hono's own `cors()` sets them
 * on `c.res` instead, which makes Hono build a placeholder response and copy it into each
 * route's answer; on Node that also turns @hono/node-server's cheap string responses into full
 * WHATWG responses read through a stream.
 */
export function cors(config: CorsConfig | undefined, logger?: Logger): MiddlewareHandler<AppEnv> {
  const origin = config?.origin ?? '*';
  const allowOrigin: (requestOrigin: string) => string | undefined | null =
    typeof origin === 'function'
      ? origin
      : typeof origin === 'string'
        ? (o) => (origin === '*' ? '*' : origin === o ? o : null)
        : (o) => (origin.includes(o) ? o : null);
  const varies = origin !== '*';
  return async (c, next) => {
    let allowed: unknown;
    try {
      allowed = allowOrigin(c.req.header('origin') ?? '');
    } catch (err) {
      // A predicate that throws allows nothing (the browser refuses the answer), and the
      // request itself is still answered.
      logger?.warn({ err: errorText(err) }, 'cors.origin threw; the origin is not allowed');
    }
    if (typeof allowed === 'string' && allowed !== '') c.header('Access-Control-Allow-Origin', allowed);
    if (varies) c.header('Vary', 'Origin', { append: true });
    if (c.req.method === 'OPTIONS') {
      c.header('Access-Control-Max-Age', MAX_AGE);
      c.header('Access-Control-Allow-Methods', ALLOW_METHODS);
      c.header('Access-Control-Allow-Headers', ALLOW_HEADERS);
      return c.body(null, 204);
    }
    c.header('Access-Control-Expose-Headers', EXPOSE_HEADERS);
    await next();
  };
}
