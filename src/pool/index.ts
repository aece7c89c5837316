export type { Executor, ExecutorStats } from './executor.js';
export { InlineExecutor } from './inline.js';
