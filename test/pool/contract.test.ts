import { InlineExecutor } from '../../src/pool/inline.js';
import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import { executorContract } from './executor-contract.js';

executorContract('InlineExecutor', () => new InlineExecutor());
executorContract('WorkerPoolExecutor', () => new WorkerPoolExecutor({ minSize: 1, maxSize: 2, terminateGraceMs: 1000 }));
