import type { MiddlewareHandler } from 'hono';
import { BrokerError, errorText } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import type { AppEnv, AuthConfig, AuthResult } from './types.js';

const BEARER = /^Bearer\s+(\S.*)$/i;

function challenge(config: AuthConfig): Record<string, string> {
  if (config.type === 'bearer') return { 'WWW-Authenticate': 'Bearer realm="enclave-broker"' };
  if (config.type === 'api-key') return { 'WWW-Authenticate': `ApiKey header="${config.header ?? 'X-API-Key'}"` };
  return { 'WWW-Authenticate': 'Custom realm="enclave-broker"' };
}

function credential(config: AuthConfig, headers: Headers): string | undefined {
  switch (config.type) {
    case 'bearer': {
      const match = BEARER.exec(headers.get('authorization') ?? '');
      return match?.[1]?.trim() || undefined;
    }
    case 'api-key':
      return headers.get(config.header ?? 'x-api-key')?.trim() || undefined;
    case 'custom':
      return headers.get('authorization') ?? undefined;
  }
}

/**
 * Authenticates every request it guards: the identity (`userId`, `tenantId`, `permissions`)
 * lands in `c.var.identity`. A `validate` that answers `{ valid: false }` (or junk) is a 401;
 * one that throws or hangs past `timeoutMs` is an outage of the auth backend, not bad
 * credentials: 503 `AUTH_UNAVAILABLE` with `Retry-After`, logged at error. A thrown error that
 * says the token itself is bad (see {@link rejectsCredentials}) is a 401 like `{ valid: false }`.
 */
export function authenticate(config: AuthConfig, logger: Logger): MiddlewareHandler<AppEnv> {
  const timeoutMs = config.timeoutMs ?? 5000;
  return async (c, next) => {
    const token = credential(config, c.req.raw.headers);
    if (token === undefined) {
      logger.info({ path: c.req.path, reason: 'missing credentials' }, 'request refused');
      throw new BrokerError('UNAUTHORIZED', 'credentials are required', undefined, challenge(config));
    }
    let result: AuthResult | 'timeout';
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      result = await Promise.race([
        Promise.resolve().then(() => config.validate(token)),
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
      ]);
    } catch (err) {
      if (rejectsCredentials(err)) {
        logger.info({ path: c.req.path, reason: 'invalid credentials', err: errorText(err) }, 'request refused');
        throw new BrokerError('UNAUTHORIZED', 'invalid credentials', undefined, challenge(config));
      }
      logger.error({ path: c.req.path, err: errorText(err) }, 'authentication failed: validate threw');
      throw unavailable();
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    if (result === 'timeout') {
      logger.error({ path: c.req.path, timeoutMs }, 'authentication failed: validate timed out');
      throw unavailable();
    }
    let identity: AuthResult | undefined;
    try {
      identity = readIdentity(result);
    } catch (err) {
      // A result that throws when read (a getter) is a validate that failed.
      logger.info({ path: c.req.path, reason: 'validate result unreadable', err: errorText(err) }, 'request refused');
    }
    if (!identity) {
      logger.info({ path: c.req.path, reason: 'invalid credentials' }, 'request refused');
      throw new BrokerError('UNAUTHORIZED', 'invalid credentials', undefined, challenge(config));
    }
    c.set('identity', identity);
    await next();
  };
}

/** Error names of `jsonwebtoken` for a token that is malformed, forged, expired or not yet valid. */
const JWT_ERROR_NAMES = new Set(['JsonWebTokenError', 'TokenExpiredError', 'NotBeforeError']);
/** Error codes of `jose` for the same (a JWKS that cannot be fetched is an outage, not one of them). */
const JOSE_CREDENTIAL_CODE = /^ERR_(?:JWT|JWS|JWE|JOSE)_|^ERR_JWKS_(?:NO_MATCHING_KEY|MULTIPLE_MATCHING_KEYS)$/;

/**
 * Whether an error thrown by `validate` rejects the credentials rather than reports an outage:
 * one with `code: 'UNAUTHORIZED'` (the way for any `validate` to say so by throwing), or a
 * token-verification error of `jsonwebtoken` or `jose`, as a `verifyJWT(token)` throws for a
 * bad token in the reference's example.
 */
export function rejectsCredentials(err: unknown): boolean {
  try {
    const { name, code } = (err ?? {}) as { name?: unknown; code?: unknown };
    if (typeof name === 'string' && JWT_ERROR_NAMES.has(name)) return true;
    return typeof code === 'string' && (code === 'UNAUTHORIZED' || JOSE_CREDENTIAL_CODE.test(code));
  } catch {
    return false; // an error whose properties throw says nothing either way
  }
}

const unavailable = () => new BrokerError('AUTH_UNAVAILABLE', 'authentication is unavailable, try again', undefined, { 'Retry-After': '1' });

/** The identity a valid result gives (strings only), or undefined when it is not valid. */
function readIdentity(result: AuthResult | null | undefined): AuthResult | undefined {
  if (result?.valid !== true) return undefined;
  const identity: AuthResult = { valid: true };
  if (typeof result.userId === 'string') identity.userId = result.userId;
  if (typeof result.tenantId === 'string') identity.tenantId = result.tenantId;
  const permissions: unknown = result.permissions;
  if (Array.isArray(permissions)) identity.permissions = permissions.filter((p): p is string => typeof p === 'string');
  return identity;
}
