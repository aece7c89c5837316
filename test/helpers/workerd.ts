import { build, type Plugin } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';

const root = join(import.meta.dirname, '..', '..');
const outdir = join(root, '.scratch', 'workerd-test');
let bundled: Promise<void> | undefined;

/**
 * Bundles a Worker entry like wrangler does, into `.scratch/<name>/worker.js`, with the
 * QuickJS `.wasm` beside it as a CompiledWasm module. Resolves the output folder.
 */
export async function bundleWorker(entry: string, name: string, external: string[] = []): Promise<string> {
  const out = join(root, '.scratch', name);
  await mkdir(out, { recursive: true });
  const wasmPath = createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm');
  await copyFile(wasmPath, join(out, 'quickjs.wasm'));
  const wasm: Plugin = {
    name: 'quickjs-wasm',
    setup(b) {
      b.onResolve({ filter: /^@jitl\/quickjs-wasmfile-release-sync\/wasm$/ }, () => ({ path: './quickjs.wasm', external: true }));
    },
  };
  await build({
    entryPoints: [join(root, entry)],
    outfile: join(out, 'worker.js'),
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*', ...external],
    plugins: [wasm],
    logLevel: 'error',
  });
  return out;
}

/**
 * The Miniflare options that load a Worker `bundleWorker` wrote to `out`. Its modules are listed
 * by hand: the bundle keeps computed `import()`s (Node-only paths) Miniflare cannot follow.
 */
export function workerModules(out: string) {
  return {
    modules: [
      { type: 'ESModule' as const, path: join(out, 'worker.js') },
      { type: 'CompiledWasm' as const, path: join(out, 'quickjs.wasm') },
    ],
    modulesRoot: out,
    compatibilityDate: '2026-04-20',
  };
}

/** Bundles test/workers/worker.ts (once per process). */
function bundle(): Promise<void> {
  bundled ??= bundleWorker('test/workers/worker.ts', 'workerd-test').then(() => undefined);
  return bundled;
}

export interface Workerd {
  mf: Miniflare;
  url: string;
  /**
   * Restarts workerd with the same options: every Durable Object starts again with its
   * in-memory state lost and its storage kept. `url` changes.
   */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** The test Worker in a real workerd, listening on a free loopback port. */
export async function startWorkerd(bindings: Record<string, string> = {}): Promise<Workerd> {
  await bundle();
  const options = {
    ...workerModules(outdir),
    durableObjects: {
      ENCLAVE_SESSION: { className: 'EnclaveSession', useSQLite: true },
      ENCLAVE_COUNTERS: { className: 'EnclaveCounters', useSQLite: true },
      STORE_HOST: { className: 'StoreHost', useSQLite: true },
    },
    bindings,
    host: '127.0.0.1',
    port: 0,
  } satisfies ConstructorParameters<typeof Miniflare>[0];
  const mf = new Miniflare(options);
  const w: Workerd = {
    mf,
    url: (await mf.ready).toString().replace(/\/$/, ''),
    async restart() {
      await mf.setOptions(options);
      w.url = (await mf.ready).toString().replace(/\/$/, '');
    },
    close: () => mf.dispose(),
  };
  return w;
}
