import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

/**
 * A real Redis Cluster of three primaries on loopback (no replicas, no persistence), each a
 * `redis-server --cluster-enabled yes` with its node file in a temporary directory, joined by
 * `redis-cli --cluster create`.
 */
export class RedisCluster {
  private constructor(
    readonly ports: number[],
    private readonly children: ChildProcess[],
    private readonly dir: string,
  ) {}

  static async start(size = 3): Promise<RedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'enclave-cluster-'));
    const ports: number[] = [];
    const children: ChildProcess[] = [];
    const cluster = new RedisCluster(ports, children, dir);
    try {
      for (let i = 0; i < size; i++) {
        const port = await freePort();
        ports.push(port);
        children.push(
          spawn(
            'redis-server',
            [
              '--port',
              String(port),
              '--bind',
              '127.0.0.1',
              '--daemonize',
              'no',
              '--save',
              '',
              '--appendonly',
              'no',
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              join(dir, `nodes-${port}.conf`),
              '--dir',
              dir,
            ],
            { stdio: 'ignore' },
          ),
        );
      }
      for (const port of ports) await waitFor(() => ping(port));
      await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes']);
      for (const port of ports) await waitFor(() => clusterOk(port));
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  get nodes(): { host: string; port: number }[] {
    return this.ports.map((port) => ({ host: '127.0.0.1', port }));
  }

  /** `host:port,host:port,…` (what the test broker process takes in REDIS_CLUSTER). */
  get spec(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  client(): Cluster {
    const c = new Cluster(this.nodes, { lazyConnect: true });
    c.on('error', () => {});
    return c;
  }

  /** Every key of every primary, with its PTTL and the primary's port. */
  async keys(): Promise<{ key: string; pttl: number; port: number }[]> {
    const out: { key: string; pttl: number; port: number }[] = [];
    for (const port of this.ports) {
      const node = new Redis(port, '127.0.0.1');
      try {
        for (const key of await node.keys('*')) out.push({ key, pttl: await node.pttl(key), port });
      } finally {
        node.disconnect();
      }
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function ping(port: number): Promise<boolean> {
  const node = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  node.on('error', () => {});
  try {
    await node.connect();
    return (await node.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    node.disconnect();
  }
}

async function clusterOk(port: number): Promise<boolean> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
  return stdout.includes('cluster_state:ok');
}

async function waitFor(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('the Redis cluster did not come up');
    await new Promise((r) => setTimeout(r, 50));
  }
}
