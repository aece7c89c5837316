import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './types.js';
import { BrokerError, CODE_FOR_STATUS } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import { LOG } from '../observability/messages.js';
import type { BrokerMetrics } from '../observability/metrics.js';

/**
 * Looks at every answer once the route (and `onError`) produced it: counts error answers by
 * code, and logs the ones caused by the store (error) or by a broker-wide limit (warn).
 * Refusals by authentication and rate limiting are logged where they happen.
 */
export function observeHttp(logger: Logger, metrics: BrokerMetrics | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    const status = c.res.status;
    if (status < 400) return;
    const err = c.error;
    const code = err instanceof BrokerError ? err.code : (status < 500 && CODE_FOR_STATUS[status]) || (status >= 500 ? 'INTERNAL_ERROR' : `HTTP_${status}`);
    metrics?.httpError(code);
    if (code === 'STORE_UNAVAILABLE') {
      logger.error({ path: c.req.path, code, requestId: c.get('requestId'), err: err?.message }, LOG.httpRefused);
    } else if (code === 'TOO_MANY_SESSIONS') {
      logger.warn({ path: c.req.path, code, requestId: c.get('requestId') }, LOG.httpRefused);
    }
  };
}
