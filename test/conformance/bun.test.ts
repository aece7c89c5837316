import { startBun } from '../helpers/bun.js';
import { conformance, guardedConformance } from './suite.js';

// A real `bun examples/serve.ts` child process, and the broker mounted in another Hono app on Bun.
conformance('bun', '', () => startBun('examples/serve.ts'));
conformance('bun', '/enclave', () => startBun('test/fixtures/bun-mounted.ts', '/enclave'));
guardedConformance('bun', () => startBun('test/fixtures/bun-guarded.ts'));
