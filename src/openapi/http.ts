/**
 * Sending one action's request: a timeout joined with the caller's signal, the SSRF guard on
 * every hop, same-host redirects followed by hand (at most 5), and a response-size cap.
 */
import { BrokerError } from '../protocol/errors.js';
import { BodyTooLargeError, parseBody } from './body.js';
import { type AbortWatch, type HopRequest, type UpstreamAnswer, answerOf, exchangeOf } from './exchange.js';
import { hostPort } from './ssrf.js';
import { listenAbort } from '../tools/abort.js';
import type { ExecutionContext } from '../tools/types.js';
import type { FetchLike } from './types.js';

export const MAX_REDIRECTS = 5;
/** How much of an error response is kept in `details.body`. */
export const ERROR_BODY_CHARS = 4096;

export interface OutgoingRequest {
  url: URL;
  method: string;
  headers: Headers;
  body?: string;
}

export interface SendOptions {
  fetch: FetchLike;
  timeoutMs: number;
  maxResponseBytes: number;
  /** The SSRF guard of the source (see `urlGuard`): why a URL is refused, or undefined. */
  guard: (url: URL) => string | undefined;
  /** The call's context: its cancel (see `listenAbort`) aborts the request. */
  context?: ExecutionContext;
  /** Names the call in error messages. */
  label: string;
}

export interface UpstreamResponse {
  status: number;
  body: unknown;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function ssrfError(url: URL, reason: string): BrokerError {
  return new BrokerError('UPSTREAM_ERROR', `request to ${url.host} refused: ${reason}`, { reason: 'ssrf', host: url.host });
}

function truncatedBody(text: string, truncated: boolean, contentType: string | null): unknown {
  if (!truncated && text.length <= ERROR_BODY_CHARS) return parseBody(text, contentType);
  return `${text.slice(0, ERROR_BODY_CHARS)}…`;
}

/**
 * What ends a call early: its timeout, or its cancel (`listenAbort`). An `AbortWatch` for a transport's
 * `exchange`, and an `AbortSignal` (made on first read) for a `fetch`. (Cheaper than
 * `AbortSignal.any([signal, AbortSignal.timeout(ms)])`: that pair cost ≈ 30 µs a call on Node
 * 20, a good part of an action's own overhead on a loopback service.)
 */
class CallAbort implements AbortWatch {
  aborted = false;
  reason: unknown;
  timedOut = false;
  cancelled = false;
  private controller: AbortController | undefined;
  private listener: (() => void) | undefined;
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly stopListening: (() => void) | undefined;

  constructor(timeoutMs: number, context?: ExecutionContext) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.fire(new DOMException('The operation timed out.', 'TimeoutError'));
    }, timeoutMs);
    (this.timer as { unref?: () => void }).unref?.();
    if (context) {
      // Through the call's own hook: no AbortSignal is made for it (see listenAbort).
      this.stopListening = listenAbort(context, () => {
        this.cancelled = true;
        this.fire(new DOMException('The call was cancelled.', 'AbortError'));
      });
    }
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  onAbort(listener: (() => void) | undefined): void {
    this.listener = listener;
  }

  private fire(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  }

  /** The call is over (answered, failed or aborted): the timer and the listener go. */
  done(): void {
    clearTimeout(this.timer);
    this.listener = undefined;
    this.stopListening?.();
  }
}

/** One hop through a `fetch` (redirects not followed). */
async function viaFetch(fetchFn: FetchLike, request: HopRequest, abort: CallAbort): Promise<UpstreamAnswer> {
  const init: RequestInit = { method: request.method, headers: request.headers, redirect: 'manual', signal: abort.signal };
  if (request.body !== undefined) init.body = request.body;
  return answerOf(await fetchFn(request.url.href, init));
}

/** Sends the request; resolves to the parsed 2xx answer or throws a `BrokerError`. */
export async function sendRequest(request: OutgoingRequest, options: SendOptions): Promise<UpstreamResponse> {
  const abort = new CallAbort(options.timeoutMs, options.context);
  const exchange = exchangeOf(options.fetch);
  let { url, method, body } = request;
  // Copied only when a redirect changes it.
  let headers = request.headers;

  try {
    for (let hop = 0; ; hop++) {
      const refused = options.guard(url);
      if (refused) throw ssrfError(url, refused);
      const hopRequest: HopRequest = { url, method, headers };
      if (body !== undefined) hopRequest.body = body;
      if (abort.aborted) throw abort.reason;
      const response = exchange ? await exchange(hopRequest, abort) : await viaFetch(options.fetch, hopRequest, abort);
      const location = response.header('location');

      if (REDIRECTS.has(response.status) && location) {
        await response.discard();
        if (hop >= MAX_REDIRECTS) {
          throw new BrokerError('UPSTREAM_ERROR', `${options.label}: more than ${MAX_REDIRECTS} redirects`, {
            status: response.status,
            reason: 'too_many_redirects',
          });
        }
        const next = new URL(location, url);
        if (hostPort(next) !== hostPort(request.url) || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
          throw new BrokerError('UPSTREAM_ERROR', `${options.label}: redirect to another host (${next.host}) refused`, {
            status: response.status,
            reason: 'redirect',
            location: next.origin,
          });
        }
        if (response.status === 303 ? method !== 'HEAD' : (response.status === 301 || response.status === 302) && method === 'POST') {
          method = 'GET';
          body = undefined;
          headers = new Headers(headers);
          headers.delete('content-type');
        }
        url = next;
        continue;
      }

      const contentType = response.header('content-type');
      if (response.status < 200 || response.status > 299) {
        const { text, truncated } = await response.read(Math.min(options.maxResponseBytes, 64 * 1024), true);
        throw new BrokerError('UPSTREAM_ERROR', `${options.label}: upstream answered ${response.status}`, {
          status: response.status,
          body: truncatedBody(text, truncated, contentType),
        });
      }
      const { text } = await response.read(options.maxResponseBytes, false);
      return { status: response.status, body: method === 'HEAD' ? null : parseBody(text, contentType) };
    }
  } catch (err) {
    if (err instanceof BrokerError) throw err;
    if (err instanceof BodyTooLargeError) {
      throw new BrokerError('UPSTREAM_ERROR', `${options.label}: response larger than ${err.limit} bytes`, {
        reason: 'response_too_large',
        maxResponseBytes: err.limit,
      });
    }
    if (abort.cancelled) throw new BrokerError('CANCELLED', `${options.label}: cancelled`);
    if (abort.timedOut) {
      throw new BrokerError('TOOL_TIMEOUT', `${options.label}: no answer within ${options.timeoutMs} ms`, {
        reason: 'timeout',
        timeoutMs: options.timeoutMs,
      });
    }
    const cause = (err as { cause?: { code?: unknown } }).cause;
    throw new BrokerError('UPSTREAM_ERROR', `${options.label}: request failed (${(err as Error).message})`, {
      reason: 'network',
      ...(typeof cause?.code === 'string' ? { cause: cause.code } : {}),
    });
  } finally {
    abort.done();
  }
}
