/**
 * The transport of OpenAPI action calls on Node: undici's dispatcher (the engine under Node's
 * own `fetch`, without the fetch layer) with keep-alive connections, and an `exchange` that
 * reads the body as it arrives under the size cap (no web `Response`, `ReadableStream` or
 * `Headers` per call). On a small JSON answer from a loopback service, Node's global `fetch`
 * cost ≈ 140 µs of CPU a call here, node:http ≈ 40 and this dispatcher ≈ 20; in a session's
 * loop of action calls the dispatcher took ≈ 15–30 µs a call less than node:http.
 *
 * undici is loaded on the first action call, so a broker without OpenAPI sources never loads
 * it. As a `FetchLike` (spec fetches, which follow redirects) this is the global `fetch`. It
 * asks for no compression (no `Accept-Encoding`), so the size cap counts the bytes as they arrive.
 */
import type { Dispatcher } from 'undici';
import { BodyTooLargeError, type CappedBody, CappedText, declaredTooLarge } from './body.js';
import type { AbortWatch, Exchange, ExchangeFetch, UpstreamAnswer } from './exchange.js';

/**
 * Idle connections are closed after 4 s, before the 5 s after which Node servers close theirs
 * by default (a request sent on a connection the server is closing fails: see `send`). No
 * timeouts of undici's own: the call's timeout (`sendRequest`) is the one that applies.
 */
const AGENT_OPTIONS = { keepAliveTimeout: 4000, headersTimeout: 0, bodyTimeout: 0 };

let dispatcher: Dispatcher | undefined;
let loading: Promise<Dispatcher> | undefined;

function loadDispatcher(): Promise<Dispatcher> {
  loading ??= import('undici').then(({ Agent }) => (dispatcher = new Agent(AGENT_OPTIONS)));
  return loading;
}

/** Methods sent again once when a connection turns out closed before any answer. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
/** The errors of a connection the server closed as the request went out. */
const CLOSED = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** As undici's fetch reports a failure: the system error as the cause (sendRequest reads its code). */
function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

/** What a request is aborted with when its call is. */
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
  // Credentials in the URL (only a redirect to the source's own base host may carry them) go
  // as basic auth, as node:http sends them.
  if ((url.username || url.password) && headers.authorization === undefined) {
    const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(user).toString('base64')}`;
  }
  const method = request.method.toUpperCase();
  const options: Dispatcher.DispatchOptions = { origin: url.origin, path: `${url.pathname}${url.search}`, method: method as Dispatcher.HttpMethod, headers };
  if (body !== undefined) options.body = body;
  if (dispatcher) return send(dispatcher, options, abort, true);
  return loadDispatcher().then((loaded) => send(loaded, options, abort, true));
};

export const nodeHttpFetch: ExchangeFetch = Object.assign((input: string | URL | Request, init?: RequestInit) => fetch(input, init), {
  exchange: nodeExchange,
});

function send(agent: Dispatcher, options: Dispatcher.DispatchOptions, abort: AbortWatch, mayRetry: boolean): Promise<UpstreamAnswer> {
  if (abort.aborted) return Promise.reject(abort.reason);
  return new Promise<UpstreamAnswer>((resolve, reject) => {
    let answer: DispatchedAnswer | undefined;
    let cancel: ((err: Error) => void) | undefined;
    let settled = false;
    // Before a connection takes the request (a connect may take long), an abort settles the
    // call at once; the request is dropped when it gets one.
    abort.onAbort(() => {
      if (cancel) cancel(abortError(abort.reason));
      else if (!settled) {
        settled = true;
        reject(abort.reason);
      }
    });
    agent.dispatch(options, {
      onConnect(abortRequest) {
        cancel = abortRequest;
        if (abort.aborted) abortRequest(abortError(abort.reason));
      },
      onHeaders(status, rawHeaders, resume) {
        // 1xx informational answers (103 Early Hints): the final one follows.
        if (status < 200) return true;
        settled = true;
        if (status > 599) {
          // A status the Fetch standard refuses in a `Response`: refused here too.
          abort.onAbort(undefined);
          cancel?.(new RangeError(`status ${status} is not a valid answer`));
          reject(fetchFailed(new RangeError(`status ${status} is not a valid answer`)));
          return false;
        }
        answer = new DispatchedAnswer(status, rawHeaders, abort, resume, (err) => cancel?.(err));
        resolve(answer);
        return true;
      },
      onData(chunk) {
        return answer ? answer.onData(chunk) : true;
      },
      onComplete() {
        answer?.onEnd();
      },
      onError(err) {
        if (answer) {
          answer.fail(new TypeError('terminated', { cause: err }));
          return;
        }
        if (settled) return;
        settled = true;
        abort.onAbort(undefined);
        // The server closed a kept-alive connection as this request went out: once more, anew.
        const code = (err as { code?: string }).code;
        if (mayRetry && IDEMPOTENT.has(options.method) && !abort.aborted && code !== undefined && CLOSED.has(code)) {
          resolve(send(agent, options, abort, false));
          return;
        }
        reject(abort.aborted ? abort.reason : fetchFailed(err));
      },
    });
  });
}

/**
 * How much of a body is taken in before `read` says how much it wants; past this the answer
 * waits, paused. (`sendRequest` asks in the turn after the headers, so this is rarely reached.)
 */
const EARLY_BYTES = 64 * 1024;

/**
 * An answer of the dispatcher, its body taken in from the start (a small answer usually
 * arrives with its headers), so that `read` finds it there instead of waiting for later turns.
 */
class DispatchedAnswer implements UpstreamAnswer {
  private readonly headers = new Map<string, string>();
  private used = false;
  private ended = false;
  private paused = false;
  /** Why the body cannot be read (the connection failed, or the call was aborted). */
  private failure: { error: unknown } | undefined;
  /** Chunks taken in before `read` (undefined once it was called). */
  private early: Buffer[] | undefined = [];
  private earlyBytes = 0;
  /** The `read` under way. */
  private reader: { text: CappedText; resolve: (body: CappedBody) => void; reject: (error: unknown) => void } | undefined;

  constructor(
    readonly status: number,
    rawHeaders: Buffer[],
    private readonly abort: AbortWatch,
    private readonly resume: () => void,
    /** Closes the connection (the body is not wanted, or no more of it). */
    private readonly cancel: (err: Error) => void,
  ) {
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      const value = rawHeaders[i + 1]!.toString('latin1');
      const before = this.headers.get(name);
      this.headers.set(name, before === undefined ? value : `${before}, ${value}`);
    }
    abort.onAbort(() => {
      this.stop();
      this.fail(abort.reason);
    });
  }

  header(name: string): string | null {
    return this.headers.get(name) ?? null;
  }

  /** A chunk from the dispatcher; false pauses it (until `read`). */
  onData(chunk: Buffer): boolean {
    if (this.reader) return this.feed(this.reader.text, chunk);
    if (!this.early) return true;
    this.early.push(chunk);
    this.earlyBytes += chunk.byteLength;
    if (this.earlyBytes < EARLY_BYTES) return true;
    this.paused = true;
    return false;
  }

  onEnd(): void {
    this.ended = true;
    if (this.reader) this.settle();
    else this.abort.onAbort(undefined);
  }

  read(limit: number, keepStart: boolean): Promise<CappedBody> {
    const { abort } = this;
    if (this.used) return Promise.reject(new TypeError('the body was already read'));
    this.used = true;
    if (abort.aborted || this.failure) {
      this.stop();
      return Promise.reject(abort.aborted ? abort.reason : this.failure!.error);
    }
    if (!keepStart && declaredTooLarge(this.header('content-length'), limit)) {
      abort.onAbort(undefined);
      this.stop();
      return Promise.reject(new BodyTooLargeError(limit));
    }
    const text = new CappedText(limit, keepStart);
    const early = this.early!;
    this.early = undefined;
    return new Promise<CappedBody>((resolve, reject) => {
      this.reader = { text, resolve, reject };
      for (const chunk of early) if (!this.feed(text, chunk)) return;
      if (this.ended) this.settle();
      else if (this.paused) {
        this.paused = false;
        this.resume();
      }
    });
  }

  discard(): Promise<void> {
    this.used = true;
    this.early = undefined;
    this.abort.onAbort(undefined);
    this.stop();
    return Promise.resolve();
  }

  /** Closes the connection unless the body has all arrived. */
  private stop(): void {
    if (!this.ended) this.cancel(new Error('the body is not read'));
  }

  /** One chunk for the `read` under way; false once it is settled (past the cap). */
  private feed(text: CappedText, chunk: Buffer): boolean {
    let more: boolean;
    try {
      more = text.add(chunk);
    } catch (err) {
      // Past the cap: the connection stops downloading (once the read is settled, as closing
      // it fails the answer).
      this.settle({ error: err });
      this.stop();
      return false;
    }
    if (more) return true;
    this.settle();
    this.stop();
    return false;
  }

  fail(error: unknown): void {
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
