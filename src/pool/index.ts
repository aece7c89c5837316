export type { Executor, ExecutorStats } from './executor.js';
export { InlineExecutor } from './inline.js';
export {
  defaultPoolOptions,
  resolvePoolOptions,
  type PoolLogger,
  type ResolvedPoolOptions,
  type RuntimePoolOptions,
  type WorkerPoolOptions,
  type WorkerResourceLimits,
} from './options.js';
// WorkerPoolExecutor (Node/Bun only) lives in './worker-pool.node.js'; import it from there.
