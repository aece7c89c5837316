/** Reading response bodies under a byte cap, and parsing them by content type. */

export interface CappedBody {
  text: string;
  /** True when the body was longer than the cap and only its start was kept. */
  truncated: boolean;
  bytes: number;
}

/** Stateless between calls (no `stream` option): one serves every call. */
const decoder = new TextDecoder();

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`response body exceeds ${limit} bytes`);
  }
}

/**
 * Reads a body as UTF-8 text, at most `limit` bytes. Past the cap the stream is cancelled
 * (so the connection stops downloading) and either a `BodyTooLargeError` is thrown or, with
 * `keepStart`, the start is returned with `truncated: true`.
 */
export async function readCapped(response: Response, limit: number, keepStart = false): Promise<CappedBody> {
  const declared = Number(response.headers.get('content-length'));
  if (!keepStart && Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(limit);
  }
  if (!response.body) return { text: '', truncated: false, bytes: 0 };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (bytes + value.byteLength > limit) {
      await reader.cancel().catch(() => {});
      if (!keepStart) throw new BodyTooLargeError(limit);
      chunks.push(value.subarray(0, limit - bytes));
      bytes = limit;
      truncated = true;
      break;
    }
    chunks.push(value);
    bytes += value.byteLength;
  }
  const all = new Uint8Array(bytes);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { text: decoder.decode(all), truncated, bytes };
}

export function isJsonContentType(contentType: string | null): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json';
}

/** JSON when the content type says so and the text parses; otherwise the text; `null` when empty. */
export function parseBody(text: string, contentType: string | null): unknown {
  if (text === '') return null;
  if (isJsonContentType(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
