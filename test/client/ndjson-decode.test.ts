import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decodeNdjson } from '../../src/protocol/ndjson.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/ndjson-collected-response.ts', import.meta.url));

/** A body that yields `lines` then stays open; `cancelled` resolves with the cancel reason. */
function openBody(lines: string[]) {
  let onCancel!: (reason: unknown) => void;
  const cancelled = new Promise<unknown>((r) => (onCancel = r));
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const line of lines) controller.enqueue(encoder.encode(line));
    },
    cancel: (reason) => onCancel(reason ?? 'cancelled'),
  });
  return { body, cancelled };
}

describe('decodeNdjson', () => {
  it('reads a body whose Response was garbage-collected before the first read (Node fetch)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import', 'tsx', FIXTURE]);
    expect(JSON.parse(stdout)).toEqual([1, 2]);
  });

  it('locks the body when called, before any read', () => {
    const { body } = openBody([]);
    decodeNdjson(body);
    expect(body.locked).toBe(true);
  });

  it('cancels the body when stopped before its first read', async () => {
    const { body, cancelled } = openBody(['{"a":1}\n']);
    const lines = decodeNdjson(body);
    expect(await lines.return(undefined)).toEqual({ done: true, value: undefined });
    await cancelled;
    expect(body.locked).toBe(false);
    expect(await lines.next()).toEqual({ done: true, value: undefined });
  });

  it('cancels the body when an error is thrown into it before its first read', async () => {
    const { body, cancelled } = openBody(['{"a":1}\n']);
    const lines = decodeNdjson(body);
    await expect(lines.throw(new Error('stop'))).rejects.toThrow('stop');
    await cancelled;
    expect(body.locked).toBe(false);
  });

  it('cancels the body when the reader stops after some lines', async () => {
    const { body, cancelled } = openBody(['{"a":1}\n{"a":2}\n']);
    for await (const line of decodeNdjson<{ a: number }>(body)) {
      expect(line).toEqual({ a: 1 });
      break;
    }
    await cancelled;
    expect(body.locked).toBe(false);
  });

  it('parses lines split across chunks and names a bad line', async () => {
    const { body } = openBody(['{"a":', '1}\n\n{"b"', ':2}\nnot json\n']);
    const lines = decodeNdjson(body);
    expect(await lines.next()).toEqual({ done: false, value: { a: 1 } });
    expect(await lines.next()).toEqual({ done: false, value: { b: 2 } });
    await expect(lines.next()).rejects.toThrow('NDJSON line 4 is not valid JSON');
  });
});
