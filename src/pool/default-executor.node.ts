/** The executor `EnclaveBroker` uses on Node and Bun by default (Node-only: it starts worker threads). */
import { compileQuickJSWasm } from '../sandbox/wasm.node.js';
import type { Executor } from './executor.js';
import { DEFAULT_FIRST_TURN, FirstTurnExecutor } from './first-turn.js';
import { InlineExecutor } from './inline.js';
import { POOL_QUICKJS_STACK_BYTES, type WorkerPoolOptions } from './options.js';
import { createTurnGuard } from './turn-guard.node.js';
import { WorkerPoolExecutor } from './worker-pool.node.js';

/**
 * The worker pool, fronted by first turns on the calling thread (see first-turn.ts) when
 * `firstTurnMs` is set (it is 0 by default). The first turns use the pool's compiled WASM and its QuickJS stack limit.
 * They run on Node only: their watchdog is V8's (Bun 1.x accepts `vm`'s `timeout` but does not
 * stop a loop in WebAssembly with it), so on Bun every session goes to a worker.
 */
export function createPoolExecutor(options: WorkerPoolOptions): Executor {
  const pool = new WorkerPoolExecutor(options);
  const { firstTurnMs, sandboxesPerModule } = pool.settings;
  const onBun = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined';
  if (firstTurnMs === 0 || onBun) return pool;
  const inline = () =>
    new InlineExecutor({
      wasmModule: compileQuickJSWasm,
      maxStackBytes: POOL_QUICKJS_STACK_BYTES,
      ...(sandboxesPerModule ? { sandboxesPerModule } : {}),
    });
  return new FirstTurnExecutor(pool, inline, createTurnGuard(), { ...DEFAULT_FIRST_TURN, sliceMs: firstTurnMs });
}
