#!/usr/bin/env node
// `npm start`'s prestart: runs `npm run build` only when dist/ is missing or older than the
// sources, so a start with a current build takes no compile (tsc alone is ≈ 10 s here).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the build reads: every TypeScript file under these folders, and the tsconfigs. */
const SOURCE_DIRS = ['src', 'adapters', 'examples', 'bin'];
const SOURCE_FILES = ['tsconfig.json', 'tsconfig.build.json'];
/** What the build writes last and what `npm start` runs; all must exist and be newer. */
export const OUTPUTS = [
  'dist/src/index.js',
  'dist/adapters/node.js',
  'dist/bin/enclave-broker.js',
  'dist/examples/serve.js',
  'dist/browser/enclave-client.min.js',
];

function newestIn(dir, found = { path: undefined, mtimeMs: 0 }) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newestIn(path, found);
    else if (entry.name.endsWith('.ts')) {
      const { mtimeMs } = statSync(path);
      if (mtimeMs > found.mtimeMs) Object.assign(found, { path, mtimeMs });
    }
  }
  return found;
}

/** `{ current: true }`, or `{ current: false, reason }` saying what calls for a build. */
export function buildState(root) {
  let oldest = { path: undefined, mtimeMs: Infinity };
  for (const rel of OUTPUTS) {
    let mtimeMs;
    try {
      ({ mtimeMs } = statSync(join(root, rel)));
    } catch {
      return { current: false, reason: `${rel} is missing` };
    }
    if (mtimeMs < oldest.mtimeMs) oldest = { path: rel, mtimeMs };
  }
  const newest = { path: undefined, mtimeMs: 0 };
  for (const dir of SOURCE_DIRS) newestIn(join(root, dir), newest);
  for (const rel of SOURCE_FILES) {
    try {
      const { mtimeMs } = statSync(join(root, rel));
      if (mtimeMs > newest.mtimeMs) Object.assign(newest, { path: join(root, rel), mtimeMs });
    } catch {
      // not there: nothing to compare
    }
  }
  if (newest.mtimeMs > oldest.mtimeMs) return { current: false, reason: `${newest.path} is newer than ${oldest.path}` };
  return { current: true };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const state = buildState(root);
  if (state.current) process.exit(0);
  console.error(`building: ${state.reason}`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const run = spawnSync(npm, ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  process.exit(run.status ?? 1);
}
