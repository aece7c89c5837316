import { EnclaveBroker } from '../../src/broker.js';
import type { BrokerOptions } from '../../src/broker-options.js';
import type { StreamEvent } from '../../src/protocol/events.js';
import { decodeNdjson } from '../../src/protocol/ndjson.js';
import { silentLogger } from '../../src/logger.js';
import { FirstTurnExecutor } from '../../src/pool/first-turn.js';
import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';

export interface TestServer {
  broker: EnclaveBroker;
  url: string;
  close(): Promise<void>;
}

/** A broker listening on a free loopback port. */
export async function startBroker(options: BrokerOptions = {}): Promise<TestServer> {
  const broker = new EnclaveBroker({ logger: silentLogger, ...options });
  await broker.listen(0, '127.0.0.1');
  return { broker, url: `http://127.0.0.1:${broker.port}`, close: () => broker.close() };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Reads a whole NDJSON response. */
export async function readEvents(res: Response): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of decodeNdjson<StreamEvent>(res.body!)) out.push(e);
  return out;
}

/** Runs code over HTTP and returns every event of its stream. */
export async function execute(url: string, body: Record<string, unknown>, headers?: Record<string, string>): Promise<StreamEvent[]> {
  const res = await postJson(`${url}/execute`, body, headers);
  if (res.status !== 200) throw new Error(`execute answered ${res.status}: ${await res.text()}`);
  return readEvents(res);
}

export function finalOf(events: StreamEvent[]) {
  const last = events[events.length - 1];
  if (last?.type !== 'final') throw new Error(`the stream did not end with final: ${JSON.stringify(events.map((e) => e.type))}`);
  return last.payload;
}

/** Reads events one by one from a live stream. */
export function eventReader(res: Response) {
  const iterator = decodeNdjson<StreamEvent>(res.body!)[Symbol.asyncIterator]();
  return {
    async next(): Promise<StreamEvent> {
      const r = await iterator.next();
      if (r.done) throw new Error('the stream ended');
      return r.value;
    },
    /** Reads until an event of `type` arrives; returns it. */
    async until(type: string): Promise<StreamEvent> {
      for (;;) {
        const e = await this.next();
        if (e.type === type) return e;
      }
    },
    /** Reads until `match` holds; returns every event read, the matching one last. */
    async readUntil(match: (e: StreamEvent) => boolean): Promise<StreamEvent[]> {
      const out: StreamEvent[] = [];
      for (;;) {
        const e = await this.next();
        out.push(e);
        if (match(e)) return out;
      }
    },
    async rest(): Promise<StreamEvent[]> {
      const out: StreamEvent[] = [];
      for (;;) {
        const r = await iterator.next();
        if (r.done) return out;
        out.push(r.value);
      }
    },
    close: () => iterator.return?.(undefined),
  };
}

export async function collect(iterable: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

/** The worker pool of a broker built with default executor options (behind its first turns). */
export function workerPoolOf(broker: EnclaveBroker): WorkerPoolExecutor {
  const executor = broker.executor!;
  const pool = executor instanceof FirstTurnExecutor ? executor.pool : executor;
  if (!(pool instanceof WorkerPoolExecutor)) throw new Error(`the broker runs no worker pool (${executor.kind})`);
  return pool;
}
