/**
 * One request and its answer as an action call sees them, whichever transport carries them:
 * any `fetch` (through a web `Response`), or a transport's own `exchange` that answers without
 * web streams (the Node one: building a `Response` and a `ReadableStream` per call cost more
 * than the rest of an action call's own work on a loopback service).
 */
import { type CappedBody, readCapped } from './body.js';
import type { FetchLike } from './types.js';

/** What an action call sends on one hop (redirects are followed by `sendRequest`, not here). */
export interface HopRequest {
  url: URL;
  method: string;
  headers: Headers;
  body?: string;
}

/** An answer's status and headers; its body is read (capped) or dropped, once. */
export interface UpstreamAnswer {
  readonly status: number;
  /** A response header (the name in lower case), or null. */
  header(name: string): string | null;
  /**
   * The body as UTF-8 text, at most `limit` bytes: past the cap the download stops and a
   * `BodyTooLargeError` is thrown, or with `keepStart` the start comes back `truncated`.
   */
  read(limit: number, keepStart: boolean): Promise<CappedBody>;
  /** Drops the body unread. */
  discard(): Promise<void>;
}

/** Tells a transport that the call is over (timed out, or cancelled by its caller). */
export interface AbortWatch {
  readonly aborted: boolean;
  /** What a rejected request rejects with once aborted. */
  readonly reason: unknown;
  /** The one listener called on abort (set again for each step; undefined clears it). */
  onAbort(listener: (() => void) | undefined): void;
}

/** Sends one hop; rejects as `fetch` does (a `TypeError` with the system error as `cause`). */
export type Exchange = (request: HopRequest, abort: AbortWatch) => Promise<UpstreamAnswer>;

/** A `fetch` that also carries its transport's `exchange`, which action calls use instead. */
export interface ExchangeFetch extends FetchLike {
  exchange: Exchange;
}

export function exchangeOf(fetchFn: FetchLike): Exchange | undefined {
  return (fetchFn as Partial<ExchangeFetch>).exchange;
}

/** The answer of a web `Response`. */
export function answerOf(response: Response): UpstreamAnswer {
  return {
    status: response.status,
    header: (name) => response.headers.get(name),
    read: (limit, keepStart) => readCapped(response, limit, keepStart),
    discard: async () => {
      await response.body?.cancel().catch(() => {});
    },
  };
}
