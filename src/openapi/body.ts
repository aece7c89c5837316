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

/** Whether a declared `Content-Length` already says the body is larger than `limit`. */
export function declaredTooLarge(contentLength: string | null, limit: number): boolean {
  const declared = Number(contentLength);
  return contentLength !== null && Number.isFinite(declared) && declared > limit;
}

/**
 * A body's bytes gathered under a cap, whichever transport reads them. `add` throws a
 * `BodyTooLargeError` past the cap, or with `keepStart` keeps the start and answers false
 * (the caller stops reading either way).
 */
export class CappedText {
  private readonly chunks: Uint8Array[] = [];
  private bytes = 0;
  private truncated = false;

  constructor(
    private readonly limit: number,
    private readonly keepStart: boolean,
  ) {}

  add(chunk: Uint8Array): boolean {
    if (this.bytes + chunk.byteLength > this.limit) {
      if (!this.keepStart) throw new BodyTooLargeError(this.limit);
      this.chunks.push(chunk.subarray(0, this.limit - this.bytes));
      this.bytes = this.limit;
      this.truncated = true;
      return false;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    return true;
  }

  /** The text read (UTF-8, as `TextDecoder` decodes it: a leading BOM dropped). */
  result(): CappedBody {
    const { chunks, bytes, truncated } = this;
    if (chunks.length === 1) return { text: decoder.decode(chunks[0]), truncated, bytes };
    const all = new Uint8Array(bytes);
    let offset = 0;
    for (const chunk of chunks) {
      all.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return { text: decoder.decode(all), truncated, bytes };
  }
}

/**
 * Reads a body as UTF-8 text, at most `limit` bytes. Past the cap the stream is cancelled
 * (so the connection stops downloading) and either a `BodyTooLargeError` is thrown or, with
 * `keepStart`, the start is returned with `truncated: true`.
 */
export async function readCapped(response: Response, limit: number, keepStart = false): Promise<CappedBody> {
  if (!keepStart && declaredTooLarge(response.headers.get('content-length'), limit)) {
    await response.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(limit);
  }
  if (!response.body) return { text: '', truncated: false, bytes: 0 };
  const reader = response.body.getReader();
  const text = new CappedText(limit, keepStart);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    let more: boolean;
    try {
      more = text.add(value);
    } catch (err) {
      await reader.cancel().catch(() => {});
      throw err;
    }
    if (!more) {
      await reader.cancel().catch(() => {});
      break;
    }
  }
  return text.result();
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
