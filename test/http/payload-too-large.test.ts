// A body over the limit gets its 413 even from a client that writes the whole body before
// reading (Node's http client): the broker answers, then reads and drops the rest within a
// bound instead of resetting the connection under the upload.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBun, type BunServer } from '../helpers/bun.js';
import { startBroker, type TestServer } from '../helpers/broker.js';

const MiB = 1024 * 1024;

interface Outcome {
  status?: number;
  body?: string;
  error?: string;
}

/** POSTs `size` bytes to /execute, 64 KiB at a time, honouring backpressure. */
function upload(base: string, size: number, chunked: boolean): Promise<Outcome> {
  const url = new URL('/execute', base);
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = String(size);
    const outcome: Outcome = {};
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers }, (res) => {
      outcome.status = res.statusCode;
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        outcome.body = body;
        resolve(outcome);
        req.destroy(); // answered: stop uploading the rest
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      outcome.error = err.code ?? err.message;
      resolve(outcome);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const write = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

const cases: [string, () => Promise<{ url: string; close(): Promise<void> }>][] = [
  ['node', () => startBroker()],
  ['bun', () => startBun('examples/serve.ts')],
];

describe.each(cases)('a body over the limit on %s', (_name, start) => {
  let server: TestServer | BunServer | { url: string; close(): Promise<void> };

  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server.close());

  // Three rounds each: a reset under the upload lost the answer about half the time.
  it.each([
    ['with Content-Length', false],
    ['chunked', true],
  ])('%s: the client gets the 413, not a reset', async (_how, chunked) => {
    for (let round = 0; round < 3; round++) {
      const outcome = await upload(server.url, 3 * MiB, chunked);
      expect(outcome).toEqual({ status: 413, body: expect.stringContaining('PAYLOAD_TOO_LARGE') });
      expect(JSON.parse(outcome.body!)).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: 'the body exceeds 2097152 bytes' } });
    }
  });

  it('a body far past the bound still gets its answer first', async () => {
    const outcome = await upload(server.url, 24 * MiB, false);
    expect(outcome.status).toBe(413);
  });

  it('the server goes on answering', async () => {
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
  });
});
