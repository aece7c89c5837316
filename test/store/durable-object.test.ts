import { afterAll, beforeAll } from 'vitest';
import type { BrokerStore } from '../../src/store/types.js';
import { startWorkerd, type Workerd } from '../helpers/workerd.js';
import { storeContract } from './contract.js';

// The contract runs against `DurableObjectStore` inside a real Durable Object in workerd: every
// call is a request to the test Worker's `StoreHost` object, which runs it on `ctx.storage`.
// Both stores of a test talk to the same object (on Workers a session is one object).
let w: Workerd;
beforeAll(async () => {
  w = await startWorkerd();
});
afterAll(() => w?.close());

function remoteStore(maxEventsPerSession: number | undefined): BrokerStore {
  const call = async (method: string, args: unknown[]) => {
    const res = await fetch(`${w.url}/__store/contract/${method}`, {
      method: 'POST',
      body: JSON.stringify({ args, maxEventsPerSession }, (_k, v: unknown) => (v === undefined ? '__undefined__' : v)),
    });
    if (!res.ok) throw new Error(`${method} answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { value: unknown }).value;
  };
  const proxy = {
    name: 'durable-object',
    shared: false,
    async connect() {},
    async close() {},
    async subscribe(channel: string, handler: (m: string) => void) {
      const id = await call('subscribe', [channel]);
      let open = true;
      const poll = async () => {
        while (open) {
          for (const m of (await call('poll', [id])) as string[]) handler(m);
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      void poll();
      return async () => {
        open = false;
        await call('unsubscribe', [id]);
      };
    },
  } as Record<string, unknown>;
  return new Proxy(proxy, {
    get(target, key: string) {
      if (key in target || key === 'then') return target[key];
      return (...args: unknown[]) => call(key, args).then((v) => (key === 'getSession' || v !== null ? v : undefined));
    },
  }) as unknown as BrokerStore;
}

storeContract('durable-object (workerd)', {
  async create(options) {
    return remoteStore(options?.maxEventsPerSession);
  },
});
