/** NDJSON encoding and decoding, shared by the server and the client. */

export function encodeLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/**
 * Splits a byte stream into parsed JSON lines. Blank lines are skipped; a line that is not
 * valid JSON throws a `SyntaxError` naming its position.
 */
export async function* decodeNdjson<T = unknown>(body: ReadableStream<Uint8Array>): AsyncGenerator<T> {
  const reader = body.getReader();
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
