#!/usr/bin/env node
// `npm run build:client`: the client SDK as one minified ES module for browsers,
// dist/browser/enclave-client.min.js (exported as `enclave-broker/client/browser`), with a
// declaration file beside it that re-exports the client's types.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  entryPoints: [`${root}src/client/index.ts`],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  outfile: `${root}dist/browser/enclave-client.min.js`,
  logLevel: 'warning',
});
mkdirSync(`${root}dist/browser`, { recursive: true });
writeFileSync(`${root}dist/browser/enclave-client.min.d.ts`, "export * from '../src/client/index.js';\n");
