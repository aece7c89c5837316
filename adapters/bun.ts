/**
 * The Bun entry: `bun adapters/bun.ts` serves the example broker with `Bun.serve`
 * (`idleTimeout: 0`, so a stream waiting on a slow tool is never cut) and the worker pool.
 * `serveBroker` is the Node adapter's: `listen()` picks `Bun.serve` under Bun.
 */
import { runExample } from './node.js';

export * from '../src/index.js';
export { serveBroker, serveExample } from './node.js';

if ((import.meta as { main?: boolean }).main) runExample();
