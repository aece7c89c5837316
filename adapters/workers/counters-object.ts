import { DurableObject, type DurableObjectState } from 'cloudflare:workers';
import { DurableObjectStore } from '../../src/store/durable-object.js';
import type { CounterResult } from '../../src/store/types.js';
import type { CountersStub } from './options.js';

/**
 * The counters object's class (one object, `idFromName('counters')`): rate-limit counters, a
 * fixed window per key, and the active/total session pair behind `maxConcurrentSessions` and
 * `/health`.
 */
export function countersObject<Env>(): new (ctx: DurableObjectState, env: Env) => DurableObject<Env> & CountersStub {
  return class EnclaveCounters extends DurableObject<Env> implements CountersStub {
    private readonly store: DurableObjectStore;
    constructor(ctx: DurableObjectState, env: Env) {
      super(ctx, env);
      this.store = new DurableObjectStore(ctx.storage);
    }
    increment(key: string, windowMs: number): Promise<CounterResult> {
      return this.store.increment(key, windowMs);
    }
    async acquire(max: number): Promise<boolean> {
      const s = await this.stats();
      if (s.active >= max) return false;
      await this.ctx.storage.put({ 'sessions:active': s.active + 1, 'sessions:total': s.total + 1 });
      return true;
    }
    async release(): Promise<void> {
      const active = (await this.ctx.storage.get<number>('sessions:active')) ?? 0;
      await this.ctx.storage.put('sessions:active', Math.max(0, active - 1));
    }
    async stats(): Promise<{ active: number; total: number }> {
      const active = (await this.ctx.storage.get<number>('sessions:active')) ?? 0;
      const total = (await this.ctx.storage.get<number>('sessions:total')) ?? 0;
      return { active, total };
    }
    override async alarm(): Promise<void> {
      await this.store.sweep();
    }
  };
}
