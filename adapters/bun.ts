/**
 * The Bun entry: the library, and `serveBroker` (the Node adapter's: `listen()` picks
 * `Bun.serve` under Bun, with `idleTimeout: 0`, so a stream waiting on a slow tool is never
 * cut). `npm run start:bun` (`bun examples/serve.ts`) serves the example broker.
 */
export * from '../src/index.js';
export { serveBroker } from './node.js';
