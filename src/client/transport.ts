import { EnclaveError, NetworkError, errorFromResponse } from './errors.js';
import type { EnclaveClientOptions, HeadersSource } from './types.js';

export interface RequestInitLite {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Sends requests to the broker: base URL, per-request headers, JSON bodies, typed errors. */
export class Transport {
  private readonly base: string;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: HeadersSource | undefined;

  constructor(options: EnclaveClientOptions) {
    if (!options || typeof options.baseUrl !== 'string' || !options.baseUrl) throw new TypeError('baseUrl is required');
    this.base = options.baseUrl.replace(/\/+$/, '');
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new TypeError('no fetch implementation: pass options.fetch');
    // Called unbound: some platforms' fetch throws when called as a method of another object.
    this.fetchImpl = (input, init) => f(input, init);
    this.headers = options.headers;
  }

  url(path: string): string {
    return this.base + path;
  }

  /** Sends a request; a network failure rejects with `NETWORK_ERROR`. HTTP errors are not checked. */
  async send(path: string, init: RequestInitLite = {}, sessionId?: string): Promise<Response> {
    const source = typeof this.headers === 'function' ? await this.headers() : this.headers;
    const headers = new Headers(source);
    for (const [k, v] of Object.entries(init.headers ?? {})) headers.set(k, v);
    let body: string | undefined;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers.set('content-type', 'application/json');
    }
    try {
      return await this.fetchImpl(this.url(path), { method: init.method ?? 'GET', headers, body, signal: init.signal });
    } catch (err) {
      if (init.signal?.aborted) throw err;
      throw new NetworkError('NETWORK_ERROR', `cannot reach the broker: ${(err as Error)?.message ?? String(err)}`, {
        sessionId,
        cause: err,
      });
    }
  }

  /** Sends a request and parses its JSON answer; HTTP errors reject with their code. */
  async json<T>(path: string, init: RequestInitLite = {}, sessionId?: string): Promise<T> {
    const res = await this.send(path, init, sessionId);
    if (!res.ok) throw await errorFromResponse(res, sessionId);
    return (await res.json()) as T;
  }
}

/** Whether the request that created a session may be sent again: it was refused before any session existed (429, 503). */
export function isRefusedForNow(err: unknown): err is EnclaveError {
  return err instanceof EnclaveError && (err.status === 429 || err.status === 503);
}

/** Whether a failed request is worth repeating (network errors, 429, 5xx but 501). */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof EnclaveError)) return false;
  if (err.code === 'NETWORK_ERROR') return true;
  const s = err.status;
  return s !== undefined && (s === 429 || (s >= 500 && s !== 501));
}
