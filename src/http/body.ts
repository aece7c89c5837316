import type { Context } from 'hono';
import type { z } from 'zod';
import { BrokerError } from '../protocol/errors.js';
import { runtime } from '../util/runtime.js';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

/** Deepest nesting of arrays and objects a body may have (deeper ones are 400). */
export const MAX_JSON_DEPTH = 256;

/** Whether JSON text nests arrays/objects deeper than `max` (a scan; strings are skipped). */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > max) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return false;
}

/**
 * Reads a JSON body under a byte limit (refused before buffering when Content-Length says
 * so, and while streaming otherwise), then validates it with a zod schema.
 * A missing Content-Type is read as JSON; any other non-JSON type, or a charset other than
 * UTF-8, is 415. A leading BOM is ignored. Nesting deeper than MAX_JSON_DEPTH is 400.
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S, maxBytes: number): Promise<z.infer<S>> {
  const type = c.req.header('content-type');
  if (type !== undefined && type.trim() !== '' && !JSON_TYPE.test(type)) {
    throw new BrokerError('UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
  }
  // JSON is UTF-8 (RFC 8259); a body declared in another charset would be misread.
  const charset = type !== undefined ? CHARSET.exec(type)?.[1] : undefined;
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    throw new BrokerError('UNSUPPORTED_MEDIA_TYPE', 'the body must be UTF-8 encoded JSON');
  }
  return parseJson(await readBodyText(c, maxBytes), schema);
}

/**
 * Reads a body as UTF-8 text under `maxBytes` (413 PAYLOAD_TOO_LARGE from a Content-Length
 * over it, or once a streamed body passes it): what `readJson` parses, and what the Workers
 * front door forwards unparsed to a new session's object.
 */
export async function readBodyText(c: Context, maxBytes: number): Promise<string> {
  const length = c.req.header('content-length');
  refuseDeclaredTooLarge(c, length, maxBytes);
  read.add(c.req.raw);
  // With a Content-Length (checked above; the HTTP parser holds the body to it) the body is read
  // in one go, the fast path of every server adapter; a chunked body is read under the cap.
  return length !== undefined ? readWhole(c.req.raw) : readText(c.req.raw, maxBytes);
}

function parseJson<S extends z.ZodType>(text: string, schema: S): z.infer<S> {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new BrokerError('VALIDATION_ERROR', `the body nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BrokerError('VALIDATION_ERROR', 'the body is not valid JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new BrokerError('VALIDATION_ERROR', 'the body does not match the expected shape', {
      issues: parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    });
  }
  return parsed.data;
}

/**
 * Reads and drops a body the route has no use for (the upstream `POST …/cancel` takes `{}`),
 * under the same byte limit as the JSON routes: one past it is 413, as there.
 */
export async function discardBody(c: Context, maxBytes: number): Promise<void> {
  refuseDeclaredTooLarge(c, c.req.header('content-length'), maxBytes);
  read.add(c.req.raw);
  await readCapped(c.req.raw, maxBytes, () => {});
}

/** Requests whose body a route has read (or is reading): see `drainUnread`. */
const read = new WeakSet<Request>();

/** Marks a request's body as taken elsewhere (a proxy sends it on): `drainUnread` leaves it alone. */
export function bodyTaken(request: Request): void {
  read.add(request);
}

/**
 * Reads and drops a request body that nothing read, once its answer is ready: a 401, 415 or
 * 429 is answered before the body is looked at, and workerd closes a keep-alive connection
 * after answering a request whose body was left unread (the client's next request on it then
 * fails). A body declared larger than `maxBytes`, or one that turns out larger, is read and
 * dropped after the answer instead, within a bound (see {@link linger}).
 */
export async function drainUnread(c: Context, maxBytes: number): Promise<void> {
  const length = c.req.header('content-length');
  const chunked = c.req.header('transfer-encoding') !== undefined;
  if ((length === undefined || length === '0') && !chunked) return;
  if (read.has(c.req.raw)) return;
  read.add(c.req.raw);
  const body = c.req.raw.body;
  if (declaredTooLarge(length, maxBytes)) {
    if (body && !body.locked) linger(body.getReader(), 0, maxBytes);
    return;
  }
  try {
    await readCapped(c.req.raw, maxBytes, () => {});
  } catch {
    // Past the limit (now lingering), or the client went away.
  }
}

function declaredTooLarge(length: string | undefined, maxBytes: number): boolean {
  return length !== undefined && Number(length) > maxBytes;
}

/**
 * 413 from Content-Length alone, before any of the body is read. The body is read and dropped
 * in the background (see {@link linger}) while the answer goes out.
 */
function refuseDeclaredTooLarge(c: Context, length: string | undefined, maxBytes: number): void {
  if (!declaredTooLarge(length, maxBytes)) return;
  read.add(c.req.raw);
  const body = c.req.raw.body;
  if (body && !body.locked) linger(body.getReader(), 0, maxBytes);
  throw new BrokerError('PAYLOAD_TOO_LARGE', `the body exceeds ${maxBytes} bytes`);
}

/** A refused body is read and dropped up to this many times the body limit… */
export const LINGER_FACTOR = 2;
/** …or for this long, before its connection is closed. */
export const LINGER_MS = 5000;

/**
 * Reads and drops the rest of a body refused as too large, in the background, up to
 * LINGER_FACTOR × the limit in all or for LINGER_MS, then cancels it (which closes the
 * connection). Closing at once would reset the connection while the client is still
 * uploading, and a client that writes its whole body before reading (Node's `http`, most
 * SDKs) would see EPIPE instead of the 413: the lingering close of nginx and Apache.
 */
function linger(reader: ReadableStreamDefaultReader<Uint8Array>, alreadyRead: number, maxBytes: number): Promise<void> {
  let size = alreadyRead;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    if (timer !== undefined) clearTimeout(timer);
    reader.cancel().catch(() => {});
  };
  timer = setTimeout(stop, LINGER_MS);
  (timer as { unref?: () => void }).unref?.();
  const pump = async (): Promise<void> => {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        clearTimeout(timer);
        return;
      }
      size += next.value.byteLength;
      if (size > LINGER_FACTOR * maxBytes) return stop();
    }
  };
  return pump().catch(stop);
}

async function readWhole(request: Request): Promise<string> {
  let bytes: ArrayBuffer;
  try {
    bytes = await request.arrayBuffer();
  } catch {
    throw new BrokerError('VALIDATION_ERROR', 'the body could not be read');
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new BrokerError('VALIDATION_ERROR', 'the body is not valid UTF-8');
  }
}

async function readText(request: Request, maxBytes: number): Promise<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let text = '';
  try {
    await readCapped(request, maxBytes, (chunk) => (text += decoder.decode(chunk, { stream: true })));
    return text + decoder.decode();
  } catch (err) {
    if (err instanceof TypeError) throw new BrokerError('VALIDATION_ERROR', 'the body is not valid UTF-8');
    throw err;
  }
}

/** Streams a body to `each` chunk by chunk, refusing it once it passes `maxBytes`. */
async function readCapped(request: Request, maxBytes: number, each: (chunk: Uint8Array) => void): Promise<void> {
  const body = request.body;
  if (!body) return;
  const reader = body.getReader();
  let size = 0;
  for (;;) {
    let read: ReadableStreamReadResult<Uint8Array>;
    try {
      read = await reader.read();
    } catch {
      throw new BrokerError('VALIDATION_ERROR', 'the body could not be read');
    }
    if (read.done) return;
    size += read.value.byteLength;
    if (size > maxBytes) {
      const lingering = linger(reader, size, maxBytes);
      // Bun closes the connection as soon as the answer is sent while the body is still
      // arriving, so the client sees a broken pipe instead of the 413: there, the answer waits
      // for the rest of the body (up to the same cap and time).
      if (runtime() === 'bun') await lingering;
      throw new BrokerError('PAYLOAD_TOO_LARGE', `the body exceeds ${maxBytes} bytes`);
    }
    each(read.value);
  }
}
