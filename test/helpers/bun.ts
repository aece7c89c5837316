import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './redis-server.js';

const root = join(import.meta.dirname, '..', '..');
const bunBin = join(root, 'node_modules', '.bin', 'bun');

export interface BunServer {
  url: string;
  close(): Promise<void>;
}

/** Runs `bun <script>` on a free loopback port and waits until /health (under `mount`) answers. */
export async function startBun(script: string, mount = ''): Promise<BunServer> {
  const port = await freePort();
  const child = spawn(bunBin, [script], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'error', NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bun ${script} exited: ${stderr}`);
    try {
      if ((await fetch(`${url}${mount}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bun ${script} did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `${url}${mount}`,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
