/** NDJSON encoding and decoding, shared by the server and the client. */

export function encodeLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/**
 * Splits a byte stream into parsed JSON lines. Blank lines are skipped; a line that is not
 * valid JSON throws a `SyntaxError` naming its position.
 *
 * The body is locked when this is called, not at the first read: Node's `fetch` (undici)
 * cancels the body of a `Response` that is garbage-collected while its body is unlocked, which
 * would close a stream the caller means to read later. Stopping early (`return`, `break`, or
 * a `throw` into it), even before the first read, cancels the body, which tells the server the
 * reader went away.
 */
export function decodeNdjson<T = unknown>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const reader = body.getReader();
  const lines = readLines<T>(reader);
  const { next, return: stop, throw: raise } = lines;
  let started = false;
  /** A generator stopped before it started never runs its `finally`: let the body go here. */
  const letGoUnstarted = async () => {
    if (started) return;
    started = true;
    await reader.cancel().catch(() => {});
    reader.releaseLock();
  };
  lines.next = (...args) => {
    started = true;
    return next.apply(lines, args);
  };
  lines.return = async (value) => {
    await letGoUnstarted();
    return stop.call(lines, value);
  };
  lines.throw = async (err) => {
    await letGoUnstarted();
    return raise.call(lines, err);
  };
  return lines;
}

async function* readLines<T>(reader: ReadableStreamDefaultReader<Uint8Array>): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  let buffer = '';
  let line = 0;
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        buffer += decoder.decode();
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        line++;
        if (text) yield parseLine<T>(text, line);
      }
    }
    const rest = buffer.trim();
    if (rest) yield parseLine<T>(rest, line + 1);
  } finally {
    // A consumer that stops early cancels the body, which tells the server it went away.
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

function parseLine<T>(text: string, line: number): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new SyntaxError(`NDJSON line ${line} is not valid JSON`);
  }
}
