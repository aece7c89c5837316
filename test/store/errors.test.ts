import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../src/protocol/errors.js';
import { StoreUnavailableError, storeFailure, storeUnavailable } from '../../src/store/errors.js';

describe('the STORE_UNAVAILABLE answer', () => {
  it('is a 503 with Retry-After: 1, keeping other headers', () => {
    const err = storeUnavailable('the rate-limit store cannot be reached', { 'X-Extra': 'y', 'Retry-After': '9' });
    expect(err).toBeInstanceOf(BrokerError);
    expect(err.status).toBe(503);
    expect(err.toJSON()).toEqual({ error: { code: 'STORE_UNAVAILABLE', message: 'the rate-limit store cannot be reached' } });
    expect(err.headers).toEqual({ 'X-Extra': 'y', 'Retry-After': '1' });
  });

  it("gives the store's own error a Retry-After, keeps other broker errors, and names the store for anything else", () => {
    const own = storeFailure(new StoreUnavailableError('The Redis connection is reconnecting'), 'the session store cannot be reached');
    expect(own).toMatchObject({ code: 'STORE_UNAVAILABLE', message: 'The Redis connection is reconnecting', headers: { 'Retry-After': '1' } });

    const answered = new BrokerError('STORE_UNAVAILABLE', 'already answered', undefined, { 'Retry-After': '5' });
    expect(storeFailure(answered, 'x')).toBe(answered);
    const other = new BrokerError('NOT_FOUND', 'no such session');
    expect(storeFailure(other, 'x')).toBe(other);

    for (const thrown of [new Error('ECONNRESET'), 'a string', undefined]) {
      const err = storeFailure(thrown, 'the session store cannot be reached');
      expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', message: 'the session store cannot be reached', headers: { 'Retry-After': '1' } });
      expect(err.status).toBe(503);
    }
  });
});
