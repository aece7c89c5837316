import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

/** The client as one ES module for browsers, built with esbuild. */
export async function buildClientBundle(minify = true): Promise<string> {
  const entry = fileURLToPath(new URL('../../src/client/index.ts', import.meta.url));
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}
