import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnclaveBroker } from '../../src/broker.js';
import { EnclaveClient } from '../../src/client/index.js';
import type { FinalPayload } from '../../src/protocol/events.js';
import { truncateJson } from '../../src/protocol/truncate.js';
import { silentLogger } from '../../src/logger.js';
import { execute, finalOf, startBroker, type TestServer } from '../helpers/broker.js';
import { startWorkerd } from '../helpers/workerd.js';

const bytes = (s: string) => new TextEncoder().encode(s).length;

describe('truncateJson', () => {
  it('keeps a text that fits as it is', () => {
    expect(truncateJson('{"a":1}', 100)).toBe('{"a":1}');
  });

  it('cuts strings with a marker, arrays with a trailing marker item, objects with a marker key', () => {
    expect(JSON.parse(truncateJson(JSON.stringify('x'.repeat(100)), 40)!)).toMatch(/^x+…\[truncated \d+ chars\]$/);
    const list = JSON.parse(truncateJson(JSON.stringify(Array.from({ length: 100 }, (_, i) => i)), 60)!) as unknown[];
    expect(list.at(-1)).toEqual({ $truncated: `${100 - (list.length - 1)} more items` });
    expect(list.slice(0, -1)).toEqual(Array.from({ length: list.length - 1 }, (_, i) => i));
    const obj = JSON.parse(truncateJson(JSON.stringify({ a: 1, b: 'y'.repeat(200), c: 3, d: 4 }), 80)!) as Record<string, unknown>;
    expect(obj.a).toBe(1);
    expect(String(obj.b)).toMatch(/^y+…\[truncated \d+ chars\]$/);
    expect(obj.$truncated).toBe('2 more keys');
  });

  it('always answers valid JSON within the budget, or nothing', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 1, max: 400 }), (value, max) => {
        const json = JSON.stringify(value);
        const cut = truncateJson(json, max);
        if (cut === undefined) return max < 40;
        expect(bytes(cut)).toBeLessThanOrEqual(max);
        JSON.parse(cut);
        return true;
      }),
      { numRuns: 2000 },
    );
  });
});

describe("resultOverflow: 'truncate'", () => {
  let broker: EnclaveBroker;
  let server: TestServer;
  beforeAll(async () => {
    broker = new EnclaveBroker({ logger: silentLogger, runtimePool: false, limits: { maxResultBytes: 200, resultOverflow: 'truncate' } });
    server = await startBroker({ limits: { maxResultBytes: 200 } });
  });
  afterAll(async () => {
    await broker.close();
    await server.close();
  });

  async function final(b: EnclaveBroker, code: string, limits?: object): Promise<FinalPayload> {
    let out: FinalPayload | undefined;
    for await (const e of b.execute(code, limits ? { limits } : {})) if (e.type === 'final') out = e.payload;
    return out!;
  }

  it('cuts a result over maxResultBytes and says so in final', async () => {
    const f = await final(broker, "return { items: Array.from({ length: 100 }, (_, i) => ({ id: i, name: 'item ' + i })) }");
    expect(f.ok).toBe(true);
    expect(f.truncated).toBe(true);
    expect(bytes(JSON.stringify(f.result))).toBeLessThanOrEqual(200);
    const items = (f.result as { items: unknown[] }).items;
    expect(items[0]).toEqual({ id: 0, name: 'item 0' });
    expect(items.at(-1)).toEqual({ $truncated: expect.stringMatching(/^\d+ more items$/) });
    const small = await final(broker, 'return [1, 2]');
    expect(small).toMatchObject({ ok: true, result: [1, 2] });
    expect(small.truncated).toBeUndefined();
  });

  it('is chosen per request: error or truncate', async () => {
    const failed = await final(broker, "return 'x'.repeat(1000)", { resultOverflow: 'error' });
    expect(failed.error?.code).toBe('RESULT_TOO_LARGE');
    const client = new EnclaveClient({ baseUrl: server.url });
    const events: FinalPayload[] = [];
    const result = await client.execute("return 'x'.repeat(1000)", {
      limits: { resultOverflow: 'truncate' },
      onEvent: (e) => e.type === 'final' && events.push(e.payload),
    });
    expect(result).toMatch(/^x+…\[truncated \d+ chars\]$/);
    expect(events[0]!.truncated).toBe(true);
    await expect(client.execute("return 'x'.repeat(1000)")).rejects.toMatchObject({ code: 'RESULT_TOO_LARGE' });
  });

  it('refuses an unknown mode', () => {
    expect(() => new EnclaveBroker({ logger: silentLogger, limits: { resultOverflow: 'cut' as never } })).toThrow(/resultOverflow/);
  });
});

describe("resultOverflow: 'truncate' on Workers (a Durable Object per session)", () => {
  it('cuts the result and marks final', async () => {
    const w = await startWorkerd();
    try {
      const events = await execute(w.url, { code: "return 'x'.repeat(500)", limits: { maxResultBytes: 100, resultOverflow: 'truncate' } });
      const f = finalOf(events);
      expect(f).toMatchObject({ ok: true, truncated: true });
      expect(String(f.result)).toMatch(/^x+…\[truncated \d+ chars\]$/);
      expect(bytes(JSON.stringify(f.result))).toBeLessThanOrEqual(100);
    } finally {
      await w.close();
    }
  }, 120_000);
});
