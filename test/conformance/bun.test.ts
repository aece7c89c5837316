import { startBun } from '../helpers/bun.js';
import { conformance } from './suite.js';

// A real `bun adapters/bun.ts` child process, and the broker mounted in another Hono app on Bun.
conformance('bun', '', () => startBun('adapters/bun.ts'));
conformance('bun', '/enclave', () => startBun('test/fixtures/bun-mounted.ts', '/enclave'));
