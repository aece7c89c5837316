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
