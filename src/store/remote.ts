import { StoreUnavailableError, withTimeout } from './errors.js';
import type { LuaStoreOptions } from './lua-store.js';

/** Options of a store on a server reached over the network (Redis, Upstash). */
export interface RemoteStoreOptions extends LuaStoreOptions {
  /** A command that has not answered after this many ms rejects with `STORE_UNAVAILABLE`. Default 5000. */
  commandTimeoutMs?: number;
  /**
   * How long `connect()` waits for PING (and the Upstash store's `subscribe()` for its stream
   * to open). Default 3000.
   */
  connectTimeoutMs?: number;
}

/** The timeouts of `options`, defaults applied. */
export function remoteTimeouts(options: RemoteStoreOptions): { commandTimeoutMs: number; connectTimeoutMs: number } {
  return { commandTimeoutMs: options.commandTimeoutMs ?? 5000, connectTimeoutMs: options.connectTimeoutMs ?? 3000 };
}

/**
 * Waits up to `timeoutMs` for `ping`; otherwise rejects with a `StoreUnavailableError` that
 * names the store and where it was looked for (`The Redis store at host:port cannot be
 * reached: why`).
 */
export async function reach(store: string, address: string, ping: Promise<unknown>, timeoutMs: number): Promise<void> {
  try {
    await withTimeout(ping, timeoutMs, 'PING');
  } catch (err) {
    const why = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new StoreUnavailableError(`The ${store} store at ${address} cannot be reached: ${why}`, { cause: err });
  }
}

/**
 * Runs one command, rejecting with a `StoreUnavailableError` when it has not answered after
 * `timeoutMs` or failed on the way. An error named `replyError` is the server answering (a
 * bug, not an outage): it is kept as it is.
 */
export async function runCommand<T>(run: () => Promise<T>, timeoutMs: number, what: string, replyError: string): Promise<T> {
  try {
    return await withTimeout(run(), timeoutMs, what);
  } catch (err) {
    if ((err as Error | undefined)?.name === replyError || err instanceof StoreUnavailableError) throw err;
    throw new StoreUnavailableError(undefined, { cause: err });
  }
}
