import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runtime } from '../util/runtime.js';

/**
 * Where the worker entry is. From compiled `dist/` it is the `.js` beside this file. From
 * TypeScript sources (vitest, tsx; development only) it is the `.ts`: on Node a small ESM
 * bootstrap registers tsx's loader inside the worker and imports it; Bun runs it directly.
 */
export function workerEntry(): URL {
  const js = new URL('./worker.node.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return js;
  const ts = new URL('./worker.node.ts', import.meta.url);
  if (runtime() === 'bun') return ts;
  // The ESM build of tsx's API: its `register()` resolves the loader relative to itself.
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const bootstrap = `import * as api from ${JSON.stringify(tsxApi)};\napi.register();\nawait import(${JSON.stringify(ts.href)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}
