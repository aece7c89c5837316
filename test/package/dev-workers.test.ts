import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run dev:workers', () => {
  it('serves the example Worker offline without printing network errors', async () => {
    const port = await freePort();
    // Its own process group, so stopping it stops wrangler and workerd too.
    const child = spawn('npm', ['run', 'dev:workers', '--', '--port', String(port), '--ip', '127.0.0.1'], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const deadline = Date.now() + 90_000;
      let health: unknown;
      while (health === undefined) {
        if (child.exitCode !== null) throw new Error(`wrangler dev exited: ${output}`);
        if (Date.now() > deadline) throw new Error(`wrangler dev did not start: ${output}`);
        try {
          const res = await fetch(`http://127.0.0.1:${port}/health`);
          if (res.ok) health = await res.json();
        } catch {
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      expect(health).toMatchObject({ status: 'ok', store: 'durable-object' });
      // Wrangler's lookups (request.cf data, metrics) happen before it is ready: by now their
      // failures would have been printed.
      expect(output).toContain('Ready on');
      expect(output).not.toMatch(/ENOTFOUND|EAI_AGAIN|getaddrinfo|Error:/);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await exited;
    }
  }, 120_000);
});
