/**
 * The `fetch` of OpenAPI action calls on Node: node:http and node:https with keep-alive agents,
 * answering a web `Response` whose body streams with backpressure (so `readCapped` still
 * stops the download at the cap). Node's global `fetch` (undici) costs ≈ 100 µs more CPU per
 * call than this on a small JSON answer, more than the rest of an action call together.
 *
 * It handles what `sendRequest` sends (a URL, a method, headers, a string body or none,
 * `redirect: 'manual'`, a signal); any other request (a spec fetch following redirects, a
 * `Request` object, a stream body) goes to the global `fetch`. It asks for no compression
 * (no `Accept-Encoding`), so the size cap counts the bytes as they arrive.
 */
import http from 'node:http';
import https from 'node:https';
import type { FetchLike } from './types.js';

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

/** Statuses whose response has no body (the `Response` constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function fallback(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  return fetch(input, init);
}

export const nodeHttpFetch: FetchLike = (input, init) => {
  if (input instanceof Request || init?.redirect !== 'manual') return fallback(input, init);
  const body = init.body;
  if (body !== undefined && body !== null && typeof body !== 'string') return fallback(input, init);
  let url: URL;
  try {
    url = typeof input === 'string' ? new URL(input) : input;
  } catch {
    return fallback(input, init);
  }
  const protocol = url.protocol;
  if (protocol !== 'http:' && protocol !== 'https:') return fallback(input, init);
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);

  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => {
    headers[name] = value;
  });
  headers['user-agent'] ??= 'enclave-broker';
  if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
  const method = (init.method ?? 'GET').toUpperCase();

  return send(url, method, headers, body ?? undefined, signal, true);
};

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal | undefined,
  mayRetry: boolean,
): Promise<Response> {
  const protocol = url.protocol as 'http:' | 'https:';
  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    let onAbort: (() => void) | undefined;
    const cleanup = () => {
      if (onAbort) signal!.removeEventListener('abort', onAbort);
      onAbort = undefined;
    };
    const request = (protocol === 'https:' ? https : http).request(url, { method, headers, agent: agents[protocol] });
    if (signal) {
      onAbort = () => request.destroy(signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError'));
      signal.addEventListener('abort', onAbort, { once: true });
    }
    request.on('error', (err) => {
      if (settled) return;
      settled = true;
      cleanup();
      // The server closed a kept-alive connection as this request went out: once more, anew.
      const code = (err as { code?: string }).code;
      if (mayRetry && request.reusedSocket && IDEMPOTENT.has(method) && !signal?.aborted && (code === 'ECONNRESET' || code === 'EPIPE')) {
        resolve(send(url, method, headers, body, signal, false));
        return;
      }
      // As undici's fetch reports it: the system error as the cause (sendRequest reads its code).
      reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: err }));
    });
    request.once('response', (res) => {
      settled = true;
      const status = res.statusCode ?? 0;
      const responseHeaders = new Headers();
      const raw = res.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        try {
          responseHeaders.append(raw[i]!, raw[i + 1]!);
        } catch {
          // A header the Fetch standard refuses: left out, as undici would not show it either.
        }
      }
      const init = { status, statusText: res.statusMessage ?? '', headers: responseHeaders };
      if (NULL_BODY.has(status) || method === 'HEAD') {
        res.resume();
        res.once('end', cleanup);
        settle(() => new Response(null, init));
        return;
      }
      const stream = new ReadableStream<Uint8Array>(
        {
          start(controller) {
            let open = true;
            const end = (error?: unknown) => {
              if (!open) return;
              open = false;
              cleanup();
              if (error === undefined) controller.close();
              else controller.error(signal?.aborted ? signal.reason : error);
            };
            res.on('data', (chunk: Buffer) => {
              if (!open) return;
              controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
              if ((controller.desiredSize ?? 1) <= 0) res.pause();
            });
            res.once('end', () => end());
            res.on('error', (err) => end(new TypeError('terminated', { cause: err })));
            res.once('aborted', () => end(new TypeError('terminated')));
            res.once('close', () => {
              if (!res.complete) end(new TypeError('terminated'));
            });
          },
          pull() {
            res.resume();
          },
          cancel() {
            cleanup();
            res.destroy();
          },
        },
        { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
      );
      settle(() => new Response(stream, init));

      function settle(make: () => Response): void {
        try {
          resolve(make());
        } catch (err) {
          // A status the Fetch standard refuses (e.g. above 599).
          cleanup();
          res.destroy();
          reject(new TypeError('fetch failed', { cause: err }));
        }
      }
    });
    request.end(body);
  });
}
