import type { Context } from 'hono';
import { encodeLine, type StreamEvent } from '../protocol/index.js';
import type { EventCursor } from '../session/cursor.js';

export const NDJSON_HEADERS = {
  'Content-Type': 'application/x-ndjson; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

const encoder = new TextEncoder();

/**
 * Streams a cursor as NDJSON. Pull-based, so a slow client slows the reads (backpressure);
 * when the client goes away the stream is cancelled and the cursor closed.
 */
export function ndjsonStream(c: Context, cursor: EventCursor, headers: Record<string, string>): Response {
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const first = await cursor.next();
        if (!first) {
          controller.close();
          return;
        }
        let text = encodeLine(first);
        for (const e of cursor.drain(512)) text += encodeLine(e);
        controller.enqueue(encoder.encode(text));
      } catch (err) {
        cursor.close();
        controller.error(err);
      }
    },
    cancel() {
      cursor.close();
    },
  });
  return c.body(body, 200, { ...NDJSON_HEADERS, ...headers });
}

/** All events known before the first byte: one string body (much cheaper than a stream on Node). */
export function ndjsonText(
  c: Context,
  events: readonly StreamEvent[],
  accept: ((e: StreamEvent) => boolean) | undefined,
  headers: Record<string, string>,
): Response {
  let text = '';
  for (const e of events) if (!accept || accept(e)) text += encodeLine(e);
  return c.body(text, 200, { ...NDJSON_HEADERS, ...headers });
}
