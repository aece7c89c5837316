#!/usr/bin/env node
// Fails when bun.lock (for `bun install`) and package-lock.json (for `npm ci`) disagree: the
// same dependency ranges for the project, and the same set of name@version packages.
// `node scripts/check-bun-lock.mjs --write` regenerates bun.lock from package-lock.json
// (bun migrates it offline: `bun install --lockfile-only` with no bun.lock present).
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bun.lock is JSON with trailing commas. */
export function parseBunLock(text) {
  return JSON.parse(text.replace(/,(\s*[}\]])/g, '$1'));
}

/** name@version of every package of an npm lockfile (v2/v3), links and the root left out. */
function npmPackages(lock) {
  const out = new Set();
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (!path || entry.link || !entry.version) continue;
    const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    out.add(`${name}@${entry.version}`);
  }
  return out;
}

/** name@version of every package of a bun.lock. */
function bunPackages(lock) {
  const out = new Set();
  for (const value of Object.values(lock.packages ?? {})) {
    if (Array.isArray(value) && typeof value[0] === 'string') out.add(value[0]);
  }
  return out;
}

/** The problems found (none: in step). */
export function compareLocks(pkg, npmLock, bunLock) {
  const problems = [];
  const ws = bunLock.workspaces?.[''] ?? {};
  for (const field of ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies']) {
    const want = JSON.stringify(Object.entries(pkg[field] ?? {}).sort());
    const got = JSON.stringify(Object.entries(ws[field] ?? {}).sort());
    if (want !== got) problems.push(`bun.lock ${field} differ from package.json's`);
  }
  const npm = npmPackages(npmLock);
  const bun = bunPackages(bunLock);
  const missing = [...npm].filter((p) => !bun.has(p));
  const extra = [...bun].filter((p) => !npm.has(p));
  if (missing.length) problems.push(`in package-lock.json, not in bun.lock: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`);
  if (extra.length) problems.push(`in bun.lock, not in package-lock.json: ${extra.slice(0, 10).join(', ')}${extra.length > 10 ? ', …' : ''}`);
  return problems;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  if (process.argv.includes('--write')) {
    rmSync(join(root, 'bun.lock'), { force: true });
    const bun = spawnSync(join(root, 'node_modules/.bin/bun'), ['install', '--lockfile-only'], { cwd: root, stdio: 'inherit' });
    if (bun.status !== 0) process.exit(bun.status ?? 1);
  }
  const read = (file) => readFileSync(join(root, file), 'utf8');
  let problems;
  try {
    problems = compareLocks(JSON.parse(read('package.json')), JSON.parse(read('package-lock.json')), parseBunLock(read('bun.lock')));
  } catch (err) {
    problems = [String(err.message ?? err)];
  }
  if (problems.length) {
    console.error(`bun.lock is out of step with package-lock.json (node scripts/check-bun-lock.mjs --write):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log('bun.lock ok: in step with package-lock.json');
}
