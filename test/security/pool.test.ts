import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import { defineHostileCorpus } from './corpus.js';

// The same corpus in worker threads, with the cases only a killable thread can bound.
defineHostileCorpus('WorkerPoolExecutor', () => new WorkerPoolExecutor({ minSize: 2, maxSize: 2, terminateGraceMs: 500 }), {
  includeNeedsPool: true,
  // Deep recursion and GC thrash near the limit may reach the deadline first; out of memory,
  // QuickJS sometimes throws `null` (it could not allocate the error object).
  alsoAccept: { STACK_OVERFLOW: ['TIMEOUT'], MEMORY_LIMIT: ['TIMEOUT', 'RUNTIME_ERROR'] },
  overrides: {
    // A worker's 16 MB thread stack lets the parser's own check fire: the guest catches it.
    'compile/deep-eval': { ok: true, value: 'SyntaxError' },
    // With the full 256 KiB stack, QuickJS's cycle check makes a 100k-deep stringify cost
    // about 6 s of CPU: the deadline may end it before the guest catches the overflow.
    'ser/deep-stringify-in-guest': { anyOf: ['TIMEOUT'], orValue: 'InternalError' },
    'ser/args-deep': { anyOf: ['TIMEOUT'], orValue: 'TypeError' },
  },
});
