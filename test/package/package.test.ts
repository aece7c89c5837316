// The published package as a user gets it: `npm pack` on a tree without dist/, the tarball
// installed into a project without the optional peers, and `npm start`'s build check.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error a plain .mjs script without declarations
import { buildState, OUTPUTS } from '../../scripts/build-if-stale.mjs';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  scripts: Record<string, string>;
};

let scratch: string;
let packDir: string;
let tarball: string;
let packed: string[];

/** The project's files as a fresh clone has them (tracked or new, never ignored), no dist/. */
async function copyProject(to: string): Promise<void> {
  const { stdout } = await run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: root, maxBuffer: 16 << 20 });
  for (const file of stdout.split('\0').filter(Boolean)) {
    try {
      mkdirSync(dirname(join(to, file)), { recursive: true });
      cpSync(join(root, file), join(to, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleted, not yet committed
    }
  }
  symlinkSync(join(root, 'node_modules'), join(to, 'node_modules'), 'dir');
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'enclave-package-'));
  packDir = join(scratch, 'project');
  await copyProject(packDir);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: packDir, maxBuffer: 16 << 20 });
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
  tarball = join(scratch, info.filename);
  packed = info.files.map((f) => f.path);
}, 180_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('npm pack', () => {
  it('builds on a tree without dist/ and ships the code, the types, the CLI and the browser bundle', () => {
    expect(pkg.scripts.prepack).toMatch(/npm run build/);
    for (const file of [
      'package.json',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/adapters/node.js',
      'dist/adapters/bun.js',
      'dist/adapters/workers.js',
      'dist/adapters/cli.js',
      'dist/bin/enclave-broker.js',
      'dist/src/client/index.js',
      'dist/browser/enclave-client.min.js',
      'dist/browser/enclave-client.min.d.ts',
    ]) {
      expect(packed, file).toContain(file);
    }
  });

  it('exports the browser bundle, a self-contained ES module', () => {
    const exportsField = JSON.parse(readFileSync(join(packDir, 'package.json'), 'utf8')).exports as Record<string, Record<string, string>>;
    expect(exportsField['./client/browser']).toEqual({
      types: './dist/browser/enclave-client.min.d.ts',
      default: './dist/browser/enclave-client.min.js',
    });
    const bundle = readFileSync(join(packDir, 'dist/browser/enclave-client.min.js'), 'utf8');
    expect(bundle).toMatch(/export\s*\{[^}]*EnclaveClient/);
    expect(bundle).not.toMatch(/\bimport\s*[{*"'\w]|from\s*["']|node:/);
  });
});

describe('the installed package', () => {
  let consumer: string;

  beforeAll(async () => {
    consumer = join(scratch, 'consumer');
    const installed = join(consumer, 'node_modules', 'enclave-broker');
    mkdirSync(installed, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
    // The package's dependencies and @types/node, but neither optional peer.
    for (const name of [...Object.keys(pkg.dependencies), '@types/node', 'typescript']) {
      mkdirSync(dirname(join(consumer, 'node_modules', name)), { recursive: true });
      symlinkSync(join(root, 'node_modules', name), join(consumer, 'node_modules', name), 'dir');
    }
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  });

  it('type-checks for a consumer without @upstash/redis and ioredis (skipLibCheck: false, nodenext)', async () => {
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
          lib: ['ES2023', 'DOM'],
        },
        include: ['main.ts'],
      }),
    );
    writeFileSync(
      join(consumer, 'main.ts'),
      `import { EnclaveBroker, ToolRegistry, RedisStore, UpstashStore, MemoryStore } from 'enclave-broker';
import { serveBroker } from 'enclave-broker/node';
import { EnclaveClient, EnclaveError } from 'enclave-broker/client';
import { EnclaveClient as BrowserClient } from 'enclave-broker/client/browser';
const tools = new ToolRegistry();
const broker = new EnclaveBroker({ tools, store: new MemoryStore() });
export const kinds: unknown[] = [RedisStore, UpstashStore, serveBroker, EnclaveClient, EnclaveError, BrowserClient, broker];
`,
    );
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', consumer], { cwd: consumer }).then(
      (r) => r.stdout,
      (err: { stdout: string }) => err.stdout,
    );
    expect(result).toBe('');
  });

  it('on Node, the root export does not load the examples', async () => {
    writeFileSync(join(consumer, 'probe.mjs'), "console.log(JSON.stringify({ keys: Object.keys(await import('enclave-broker')) }));\n");
    const { stdout } = await run(process.execPath, ['probe.mjs'], { cwd: consumer });
    const { keys } = JSON.parse(stdout) as { keys: string[] };
    expect(keys).toContain('EnclaveBroker');
    expect(keys).toContain('serveBroker');
    expect(keys).not.toContain('serveExample');
    expect(keys).not.toContain('runExample');
    // Nothing the Node, Bun or default root entries import comes from examples/.
    for (const entry of ['dist/adapters/node.js', 'dist/adapters/bun.js', 'dist/src/index.js']) {
      const result = await build({
        entryPoints: [join(consumer, 'node_modules/enclave-broker', entry)],
        bundle: true,
        platform: 'node',
        format: 'esm',
        packages: 'external',
        write: false,
        metafile: true,
        logLevel: 'silent',
      });
      const inputs = Object.keys(result.metafile!.inputs);
      expect(inputs.length, entry).toBeGreaterThan(10);
      expect(
        inputs.filter((p) => p.includes('/examples/')),
        entry,
      ).toEqual([]);
    }
  });
});

describe('npm start', () => {
  it('builds only when dist/ is missing or older than the sources', () => {
    expect(pkg.scripts.prestart).toBe('node scripts/build-if-stale.mjs');
    expect(pkg.scripts.start).toBe('node dist/examples/serve.js');
    // The tree npm pack built is current.
    expect(buildState(packDir)).toEqual({ current: true });
    const past = new Date(Date.now() - 60_000);
    for (const rel of OUTPUTS as string[]) utimesSync(join(packDir, rel), past, past);
    const source = join(packDir, 'src/broker.ts');
    utimesSync(source, new Date(), new Date());
    expect(buildState(packDir)).toEqual({ current: false, reason: expect.stringContaining('src/broker.ts') });
    rmSync(join(packDir, 'dist/browser'), { recursive: true });
    expect(buildState(packDir)).toEqual({ current: false, reason: 'dist/browser/enclave-client.min.js is missing' });
  });

  it('a start with a current build runs no compiler', async () => {
    // The first run builds the worktree's dist/ if it is not current; the second must find it
    // current and print nothing (a build prints 'building: …').
    await run(process.execPath, [join(root, 'scripts/build-if-stale.mjs')], { cwd: root });
    const again = await run(process.execPath, [join(root, 'scripts/build-if-stale.mjs')], { cwd: root });
    expect(again.stdout + again.stderr).toBe('');
  });
});
