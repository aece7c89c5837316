import { createPoolExecutor } from '../../src/pool/default-executor.node.js';
import { InlineExecutor } from '../../src/pool/inline.js';
import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import { executorContract } from './executor-contract.js';

executorContract('InlineExecutor', () => new InlineExecutor());
executorContract('WorkerPoolExecutor', () => new WorkerPoolExecutor({ minSize: 1, maxSize: 2, terminateGraceMs: 1000 }));
// The same contract with both threads looking for each other's answers after a tool result.
executorContract('WorkerPoolExecutor with handoffSpinMs', () => new WorkerPoolExecutor({ minSize: 1, maxSize: 2, terminateGraceMs: 1000, handoffSpinMs: 0.3 }));
// The default executor: the pool behind first turns on the calling thread.
executorContract('the pool behind first turns', () => createPoolExecutor({ minSize: 1, maxSize: 2, terminateGraceMs: 1000, firstTurnMs: 2 }));
