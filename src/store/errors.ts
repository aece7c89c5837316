import { BrokerError } from '../protocol/errors.js';

/**
 * The shared store cannot be reached (connection refused or lost, or no answer in time).
 * Its `code` is `STORE_UNAVAILABLE`, which the HTTP layer answers with 503. The message says
 * nothing about the host; the original error is the `cause`.
 */
export class StoreUnavailableError extends BrokerError {
  constructor(message = 'The shared store cannot be reached', options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message);
    if (options && 'cause' in options) Object.defineProperty(this, 'cause', { value: options.cause });
  }
}

export function isStoreUnavailable(err: unknown): err is StoreUnavailableError {
  return err instanceof BrokerError && err.code === 'STORE_UNAVAILABLE';
}

/**
 * The answer to a request when the store cannot be reached: 503 `STORE_UNAVAILABLE` with
 * `Retry-After: 1`, as every other 503 of the broker. `headers` are kept (Retry-After wins).
 */
export function storeUnavailable(message: string, headers?: Record<string, string>): BrokerError {
  return new BrokerError('STORE_UNAVAILABLE', message, undefined, { ...headers, 'Retry-After': '1' });
}

/**
 * What a request answers when a store call failed with `err`: a broker error stays as it is
 * (the store's own `STORE_UNAVAILABLE`, which has no `Retry-After`, gains one); anything else
 * becomes {@link storeUnavailable} with `message`.
 */
export function storeFailure(err: unknown, message: string): BrokerError {
  if (!(err instanceof BrokerError)) return storeUnavailable(message);
  if (err.code === 'STORE_UNAVAILABLE' && !err.headers?.['Retry-After']) return storeUnavailable(err.message, err.headers);
  return err;
}

/** Rejects with a {@link StoreUnavailableError} when `promise` has not settled after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0) || ms === Infinity) return promise;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A fenced write was refused: another process owns the session now (`lost`), or the store
 * no longer has its record (`missing`). Not an outage: the caller stops (or writes back).
 */
export class SessionFencedError extends Error {
  override readonly name = 'SessionFencedError';
  constructor(readonly state: 'lost' | 'missing') {
    super(state === 'lost' ? 'another process owns the session now' : 'the store no longer holds the session');
  }
}

export function isFenced(err: unknown): err is SessionFencedError {
  return err instanceof SessionFencedError;
}
