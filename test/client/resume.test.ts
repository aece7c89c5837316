import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveClient, type StreamEvent } from '../../src/client/index.js';
import { startBroker, type TestServer } from '../helpers/broker.js';

let server: TestServer;

beforeAll(async () => {
  server = await startBroker({ limits: { heartbeatIntervalMs: 60_000 } });
});
afterAll(() => server.close());

type Cut = 'error' | 'close';

/**
 * A fetch that cuts the body of the first `POST /execute` answer after `bytes` bytes: it
 * either fails the stream (a network error) or ends it early (mid-line, without final).
 */
function cuttingFetch(bytes: number, how: Cut, log: string[]): typeof fetch {
  let cut = false;
  return async (input, init) => {
    const url = String(input);
    log.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}${new URL(url).search}`);
    const res = await fetch(input, init);
    if (cut || !url.endsWith('/execute') || !res.body) return res;
    cut = true;
    const reader = res.body.getReader();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        const room = bytes - sent;
        if (value.byteLength < room) {
          sent += value.byteLength;
          return controller.enqueue(value);
        }
        if (room > 0) controller.enqueue(value.subarray(0, room));
        await reader.cancel();
        if (how === 'error') controller.error(new TypeError('terminated'));
        else controller.close();
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
}

const CODE = `
for (let i = 0; i < 30; i++) console.log('before', i);
const n = await callTool('wait', {});
for (let i = 0; i < 30; i++) console.log('after', i);
return n + 1;
`;

describe('resume after a dropped connection', () => {
  for (const how of ['error', 'close'] as const) {
    for (const bytes of [50, 900]) {
      it(`the stream ${how === 'error' ? 'fails' : 'ends'} after ${bytes} bytes: every seq once, right result`, async () => {
        const log: string[] = [];
        const client = new EnclaveClient({
          baseUrl: server.url,
          fetch: cuttingFetch(bytes, how, log),
          retry: { baseDelayMs: 5, maxDelayMs: 20 },
        });
        const events: StreamEvent[] = [];
        const result = await client.execute(CODE, { tools: { wait: async () => 41 }, onEvent: (e) => events.push(e) });
        expect(result).toBe(42);
        const seqs = events.map((e) => e.seq);
        const last = events[events.length - 1]!;
        expect(last.type).toBe('final');
        expect(seqs).toEqual(Array.from({ length: last.seq }, (_, i) => i + 1));
        expect(events.filter((e) => e.type === 'tool_call')).toHaveLength(1);
        const stdout = events.map((e) => (e.type === 'stdout' ? e.payload.chunk : '')).join('');
        expect(stdout.split('\n').filter(Boolean)).toHaveLength(60);
        expect(log.some((l) => /^GET \/sessions\/s_[^/]+\/events\?after=\d+$/.test(l))).toBe(true);
      });
    }
  }

  it('gives up with NETWORK_ERROR after the bounded attempts', async () => {
    let replays = 0;
    const failing: typeof fetch = async (input, init) => {
      if (String(input).includes('/events')) {
        replays++;
        throw new TypeError('fetch failed');
      }
      return cuttingFetch(10, 'error', [])(input, init);
    };
    const client = new EnclaveClient({ baseUrl: server.url, fetch: failing, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    const err = await client.execute("return await callTool('wait', {})", { tools: { wait: async () => 1 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'NETWORK_ERROR' });
    expect((err as { sessionId?: string }).sessionId).toMatch(/^s_/);
    expect(replays).toBe(3);
    // The session is still there for a later resume.
    const id = (err as { sessionId: string }).sessionId;
    const plain = new EnclaveClient({ baseUrl: server.url });
    const events: StreamEvent[] = [];
    for await (const e of plain.resume(id, 0, { tools: { wait: async () => 5 } })) events.push(e);
    expect(events[events.length - 1]).toMatchObject({ type: 'final', payload: { ok: true, result: 5 } });
  });
});
