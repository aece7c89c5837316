import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveClient, EnclaveError, type StreamEvent } from '../../src/client/index.js';
import { readEvents, startBroker, type TestServer } from '../helpers/broker.js';

let server: TestServer;
let client: EnclaveClient;

beforeAll(async () => {
  server = await startBroker({ limits: { heartbeatIntervalMs: 60_000 } });
  client = new EnclaveClient({ baseUrl: server.url });
});
afterAll(() => server.close());

async function serverFinal(sessionId: string) {
  const events = await readEvents(await fetch(`${server.url}/sessions/${sessionId}/events?after=0`));
  return events[events.length - 1] as Extract<StreamEvent, { type: 'final' }>;
}

describe('abort', () => {
  it('cancels the session on the broker and rejects with CANCELLED', async () => {
    const controller = new AbortController();
    let handlerSignal: AbortSignal | undefined;
    const err = await client
      .execute("return await callTool('forever', {})", {
        signal: controller.signal,
        tools: {
          forever: (_args, ctx) => {
            handlerSignal = ctx.signal;
            controller.abort();
            return new Promise(() => undefined);
          },
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnclaveError);
    expect(err).toMatchObject({ code: 'CANCELLED', name: 'AbortError' });
    const id = (err as EnclaveError).sessionId!;
    expect(id).toMatch(/^s_/);
    expect(handlerSignal?.aborted).toBe(true);
    const final = await serverFinal(id);
    expect(final.payload.ok).toBe(false);
    expect(final.payload.error?.code).toBe('CANCELLED');
    expect((await client.getSession(id))?.status).toBe('error');
  });

  it('aborting while iterating a stream cancels too', async () => {
    const controller = new AbortController();
    const stream = client.stream("console.log('a'); await callTool('forever', {})", {
      signal: controller.signal,
      unknownTools: 'ignore',
    });
    const types: string[] = [];
    const err = await (async () => {
      for await (const e of stream) {
        types.push(e.type);
        if (e.type === 'tool_call') controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CANCELLED' });
    expect(types).toEqual(['session_init', 'stdout', 'tool_call']);
    expect((await serverFinal(stream.sessionId!)).payload.error?.code).toBe('CANCELLED');
  });

  it('an already aborted signal rejects without a request', async () => {
    let requests = 0;
    const counting = new EnclaveClient({
      baseUrl: server.url,
      fetch: (input, init) => {
        requests++;
        return fetch(input, init);
      },
    });
    const err = await counting.execute('return 1', { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CANCELLED' });
    expect(requests).toBe(0);
  });

  it('an abort before the answer arrives still cancels the session it created', async () => {
    const controller = new AbortController();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let sessionId: string | undefined;
    const slow = new EnclaveClient({
      baseUrl: server.url,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (String(input).endsWith('/execute')) {
          sessionId = res.headers.get('x-session-id') ?? undefined;
          controller.abort();
          await held;
        }
        return res;
      },
    });
    const err = await slow.execute("await callTool('forever', {})", { signal: controller.signal, unknownTools: 'ignore' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CANCELLED' });
    release();
    const final = await serverFinal(sessionId!);
    expect(final.payload.error?.code).toBe('CANCELLED');
  });
});
