import { describe, expect, it } from 'vitest';
import { startBun } from '../helpers/bun.js';
import { conformance, guardedConformance } from './suite.js';

// A real `bun examples/serve.ts` child process, and the broker mounted in another Hono app on Bun.
conformance('bun', '', () => startBun('examples/serve.ts'));
conformance('bun', '/enclave', () => startBun('test/fixtures/bun-mounted.ts', '/enclave'));
guardedConformance('bun', () => startBun('test/fixtures/bun-guarded.ts'));

describe('the default pool on Bun', () => {
  it('sends every session to a worker: no first turns on the main thread (Bun does not stop WebAssembly on a vm timeout)', async () => {
    const server = await startBun('examples/serve.ts');
    try {
      const res = await fetch(`${server.url}/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":"return 1 + 2"}' });
      expect(await res.text()).toContain('"result":3');
      const health = (await (await fetch(`${server.url}/health`)).json()) as { pool: { kind: string; firstTurn?: unknown } };
      expect(health.pool.kind).toBe('worker-pool');
      expect(health.pool.firstTurn).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});
