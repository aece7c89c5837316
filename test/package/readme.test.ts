// Every README snippet as written: TypeScript ones type-check (strict, nodenext) against the
// packed package and run; the curl ones run against the example broker (`npm start`).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServer } from '../helpers/redis-server.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/** `model`: needs a language model (a provider's): type-checked only. */
type Kind = 'run' | 'serve' | 'client' | 'model';
interface Snippet {
  kind: Kind | undefined;
  code: string;
  file: string;
}

const snippets: Snippet[] = [...readme.matchAll(/(?:<!-- snippet: (\w+) -->\n)?```ts\n([\s\S]*?)```/g)].map((m, i) => ({
  kind: m[1] as Kind | undefined,
  code: m[2]!,
  file: `readme-${i + 1}.ts`,
}));
const curls = [...readme.matchAll(/```sh\n(curl [\s\S]*?)```/g)].map((m) => m[1]!.trim());

let scratch: string;
let project: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'enclave-readme-'));
  // The package as npm installs it (npm pack on a copy of the tree), plus what the README
  // asks a reader to install beside it.
  const tree = join(scratch, 'tree');
  const { stdout: files } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, maxBuffer: 16 << 20 });
  for (const file of files.split('\0').filter(Boolean)) {
    try {
      mkdirSync(dirname(join(tree, file)), { recursive: true });
      cpSync(join(root, file), join(tree, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'), 'dir');
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: tree, maxBuffer: 16 << 20 });
  const [{ filename }] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string }];
  project = join(scratch, 'project');
  const installed = join(project, 'node_modules', 'enclave-broker');
  mkdirSync(installed, { recursive: true });
  await run('tar', ['-xzf', join(scratch, filename), '-C', installed, '--strip-components=1']);
  for (const name of [...Object.keys(pkg.dependencies), 'ioredis', '@upstash/redis', 'ai', '@types/node', 'typescript', 'tsx']) {
    mkdirSync(dirname(join(project, 'node_modules', name)), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), join(project, 'node_modules', name), 'dir');
  }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'readme-reader', type: 'module', private: true }));
  for (const s of snippets) writeFileSync(join(project, s.file), s.code);
}, 180_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

/** Starts a snippet or script; resolves once a line of its output matches `ready`. */
async function start(args: string[], env: Record<string, string>, ready: RegExp, cwd = project): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (ready.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}: ${out}`)));
  });
  return { child, output: () => out };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

describe('README', () => {
  it('every TypeScript snippet says how it runs', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(4);
    for (const s of snippets) expect(['run', 'serve', 'client', 'model'], s.code.slice(0, 80)).toContain(s.kind);
  });

  it('the TypeScript snippets type-check as written (strict, nodenext)', async () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          lib: ['ES2023'],
        },
        include: snippets.map((s) => s.file),
      }),
    );
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const out = await run(process.execPath, [tsc, '-p', project], { cwd: project }).then(
      (r) => r.stdout,
      (err: { stdout: string }) => err.stdout,
    );
    expect(out).toBe('');
  });

  it('the "no HTTP needed" snippets run and exit by themselves', async () => {
    for (const s of snippets.filter((x) => x.kind === 'run')) {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', s.file], { cwd: project, timeout: 60_000 });
      expect(stdout).toContain('final');
      expect(stdout).toContain('declare function callTool');
    }
  });

  it('the serving snippets serve, the client snippet runs against them, and they stop on SIGTERM', async () => {
    const serving = snippets.filter((x) => x.kind === 'serve');
    const client = snippets.find((x) => x.kind === 'client')!;
    expect(serving.length).toBeGreaterThanOrEqual(2);
    // With the optional Redis too: a snippet that keeps a connection open never exits.
    const redis = await RedisServer.start();
    try {
      for (const s of serving) {
        const envs: Record<string, string>[] = s.code.includes('REDIS_URL') ? [{}, { REDIS_URL: redis.url }] : [{}];
        for (const env of envs) await serveAndUse(s, client, env);
      }
    } finally {
      await redis.stop();
    }
  });

  async function serveAndUse(s: Snippet, client: Snippet, env: Record<string, string>): Promise<void> {
    {
      const port = await freePort();
      const server = await start(['--import', 'tsx', s.file], { PORT: String(port), TOKEN: 'readme-token', ...env }, /listening on/);
      try {
        const base = `http://127.0.0.1:${port}`;
        if (s.code.includes("app.route('/enclave'")) {
          expect(await (await fetch(base)).text()).toBe('my app');
          const res = await fetch(`${base}/enclave/execute`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"code":"return 1 + 2"}',
          });
          expect(await res.text()).toContain('"result":3');
        } else {
          const { stdout } = await run(process.execPath, ['--import', 'tsx', client.file], {
            cwd: project,
            env: { ...process.env, BROKER_URL: base, TOKEN: 'readme-token' },
            timeout: 60_000,
          });
          expect(stdout).toMatch(/^s_\S+ 1 users\n yes to Proceed\?\n$/);
        }
      } finally {
        await stop(server.child);
      }
      // Stopped by its own handler (exit code 0), or by the signal when it has none.
      expect(server.child.exitCode ?? server.child.signalCode, JSON.stringify(env)).not.toBeNull();
      if (s.code.includes("process.once('SIGTERM'")) expect(server.child.exitCode).toBe(0);
    }
  }

  it('the curl snippets run against the example broker that npm start serves', async () => {
    expect(curls.length).toBeGreaterThanOrEqual(2);
    const port = await freePort();
    const server = await start(['--import', 'tsx', 'examples/serve.ts'], { PORT: String(port), HOST: '127.0.0.1' }, /enclave-broker ready/, root);
    try {
      for (const command of curls) {
        const { stdout } = await run('sh', ['-c', command.replaceAll('localhost:3001', `127.0.0.1:${port}`)], { timeout: 30_000 });
        const lines = stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { type: string; payload: { ok?: boolean } });
        expect(lines[0]!.type).toBe('session_init');
        expect(lines.at(-1)).toMatchObject({ type: 'final', payload: { ok: true } });
      }
    } finally {
      await stop(server.child);
    }
  });
});
