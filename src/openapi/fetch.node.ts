/**
 * The transport of OpenAPI action calls on Node: node:http and node:https with keep-alive
 * agents, and an `exchange` that reads the body straight from the `IncomingMessage` under the
 * size cap (no web `Response`, `ReadableStream` or `Headers` per call). Node's global `fetch`
 * (undici) costs ≈ 70 µs more CPU per call than node:http on a small JSON answer, and wrapping
 * node:http's answer in a web `Response` again ≈ 30 µs: each more than the rest of an action
 * call's own work on a loopback service.
 *
 * As a `FetchLike` (spec fetches, which follow redirects) it is the global `fetch`. It asks for
 * no compression (no `Accept-Encoding`), so the size cap counts the bytes as they arrive.
 */
import http from 'node:http';
import https from 'node:https';
import { BodyTooLargeError, type CappedBody, CappedText, declaredTooLarge } from './body.js';
import type { AbortWatch, Exchange, ExchangeFetch, UpstreamAnswer } from './exchange.js';

/**
 * Idle connections are closed after 4 s, before the 5 s after which Node servers close theirs
 * by default (a request sent on a connection the server is closing fails; see `retryable`).
 */
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: 4000 }),
  'https:': new https.Agent({ keepAlive: true, timeout: 4000 }),
} as const;

/** Methods sent again once when a reused connection turns out closed before any answer. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** As undici's fetch reports a failure: the system error as the cause (sendRequest reads its code). */
function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

/** What a request is destroyed with when its call is aborted. */
function abortError(reason: unknown): Error {
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}

const nodeExchange: Exchange = (request, abort) => {
  const { url, body } = request;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(fetchFailed(new Error(`${url.protocol} is not supported`)));
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  headers['user-agent'] ??= 'enclave-broker';
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  return send(url, request.method.toUpperCase(), headers, body, abort, true);
};

export const nodeHttpFetch: ExchangeFetch = Object.assign((input: string | URL | Request, init?: RequestInit) => fetch(input, init), {
  exchange: nodeExchange,
});

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  abort: AbortWatch,
  mayRetry: boolean,
): Promise<UpstreamAnswer> {
  const protocol = url.protocol as 'http:' | 'https:';
  return new Promise<UpstreamAnswer>((resolve, reject) => {
    let settled = false;
    const agent = agents[protocol];
    // The options `urlToHttpOptions` would give, made directly (a URL with credentials, which
    // only a redirect to the source's own base host may carry, goes the long way: as auth).
    const request =
      url.username || url.password
        ? (protocol === 'https:' ? https : http).request(url, { method, headers, agent })
        : (protocol === 'https:' ? https : http).request({
            protocol,
            hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
            port: url.port,
            path: `${url.pathname}${url.search}`,
            method,
            headers,
            agent,
          });
    abort.onAbort(() => request.destroy(abortError(abort.reason)));
    request.on('error', (err) => {
      if (settled) return;
      settled = true;
      abort.onAbort(undefined);
      // The server closed a kept-alive connection as this request went out: once more, anew.
      const code = (err as { code?: string }).code;
      if (mayRetry && request.reusedSocket && IDEMPOTENT.has(method) && !abort.aborted && (code === 'ECONNRESET' || code === 'EPIPE')) {
        resolve(send(url, method, headers, body, abort, false));
        return;
      }
      reject(abort.aborted ? abort.reason : fetchFailed(err));
    });
    request.once('response', (res) => {
      settled = true;
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        // A status the Fetch standard refuses in a `Response`: refused here too.
        abort.onAbort(undefined);
        res.destroy();
        reject(fetchFailed(new RangeError(`status ${status} is not a final answer`)));
        return;
      }
      resolve(new NodeAnswer(res, status, abort));
    });
    request.end(body);
  });
}

/**
 * How much of a body is taken in before `read` says how much it wants; past this the answer
 * waits, paused. (`sendRequest` asks in the turn after the headers, so this is rarely reached.)
 */
const EARLY_BYTES = 64 * 1024;

/**
 * An answer of node:http, its body read from the `IncomingMessage` itself. It is taken in from
 * the start (a small answer usually arrives with its headers), so that `read` finds it there
 * instead of waiting for the stream to be resumed and to end in later turns.
 */
class NodeAnswer implements UpstreamAnswer {
  private used = false;
  private ended = false;
  /** Why the body cannot be read (the connection failed, or the call was aborted). */
  private failure: { error: unknown } | undefined;
  /** Chunks taken in before `read` (undefined once it was called). */
  private early: Buffer[] | undefined = [];
  private earlyBytes = 0;
  /** The `read` under way. */
  private reader: { text: CappedText; resolve: (body: CappedBody) => void; reject: (error: unknown) => void } | undefined;

  constructor(
    private readonly res: http.IncomingMessage,
    readonly status: number,
    private readonly abort: AbortWatch,
  ) {
    abort.onAbort(() => {
      res.destroy();
      this.fail(abort.reason);
    });
    res.on('data', (chunk: Buffer) => {
      if (this.reader) this.feed(this.reader.text, chunk);
      else if (this.early) {
        this.early.push(chunk);
        this.earlyBytes += chunk.byteLength;
        if (this.earlyBytes >= EARLY_BYTES) res.pause();
      }
    });
    res.once('end', () => {
      this.ended = true;
      if (this.reader) this.settle();
      else abort.onAbort(undefined);
    });
    res.on('error', (err) => this.fail(new TypeError('terminated', { cause: err })));
    res.once('close', () => {
      if (!res.complete) this.fail(new TypeError('terminated'));
    });
  }

  header(name: string): string | null {
    const value = this.res.headers[name];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  read(limit: number, keepStart: boolean): Promise<CappedBody> {
    const { res, abort } = this;
    if (this.used) return Promise.reject(new TypeError('the body was already read'));
    this.used = true;
    if (abort.aborted || this.failure) {
      res.destroy();
      return Promise.reject(abort.aborted ? abort.reason : this.failure!.error);
    }
    if (!keepStart && declaredTooLarge(this.header('content-length'), limit)) {
      abort.onAbort(undefined);
      res.destroy();
      return Promise.reject(new BodyTooLargeError(limit));
    }
    const text = new CappedText(limit, keepStart);
    const early = this.early!;
    this.early = undefined;
    return new Promise<CappedBody>((resolve, reject) => {
      this.reader = { text, resolve, reject };
      for (const chunk of early) if (!this.feed(text, chunk)) return;
      if (this.ended) this.settle();
      else if (res.isPaused()) res.resume();
    });
  }

  discard(): Promise<void> {
    this.used = true;
    this.early = undefined;
    this.abort.onAbort(undefined);
    this.res.destroy();
    return Promise.resolve();
  }

  /** One chunk for the `read` under way; false once it is settled (past the cap). */
  private feed(text: CappedText, chunk: Buffer): boolean {
    let more: boolean;
    try {
      more = text.add(chunk);
    } catch (err) {
      // Past the cap: the connection stops downloading.
      this.res.destroy();
      this.settle({ error: err });
      return false;
    }
    if (more) return true;
    this.res.destroy();
    this.settle();
    return false;
  }

  private fail(error: unknown): void {
    if (this.ended || this.failure) return;
    this.failure = { error: this.abort.aborted ? this.abort.reason : error };
    if (this.reader) this.settle(this.failure);
  }

  /** Ends the `read` under way: with its text, or with `failed`'s error. */
  private settle(failed?: { error: unknown }): void {
    const reader = this.reader;
    if (!reader) return;
    this.reader = undefined;
    this.abort.onAbort(undefined);
    if (failed) reader.reject(failed.error);
    else reader.resolve(reader.text.result());
  }
}
