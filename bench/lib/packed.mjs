// The shipped package, as a user gets it: `npm pack` of the repo (its `files` and `exports`),
// unpacked into node_modules/enclave-broker of a fresh project in a temporary directory.
// Its dependencies are linked from the repo's node_modules (the machine may be offline;
// `npm install --offline` of the tarball needs every dependency in npm's cache). Scripts run
// from that project import 'enclave-broker' through its package.json exports, as users do.
// Needs dist/ (npm run build; `npm run bench` builds first).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { root } from './proc.mjs';

let made;

/** { dir, how }: the project's directory and how the package got there. Made once per process. */
export function packedProject() {
  made ??= make();
  return made;
}

function make() {
  if (!existsSync(join(root, 'dist/src/index.js'))) throw new Error('no dist/: run npm run build first');
  const base = mkdtempSync(join(tmpdir(), 'enclave-broker-packed-'));
  process.on('exit', () => rmSync(base, { recursive: true, force: true }));
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', base], { cwd: root, encoding: 'utf8' }).trim().split('\n').at(-1);
  const dir = join(base, 'project');
  const pkgDir = join(dir, 'node_modules', 'enclave-broker');
  mkdirSync(pkgDir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'packed-bench', private: true, type: 'module' }));
  execFileSync('tar', ['-xzf', join(base, basename(tarball)), '-C', pkgDir, '--strip-components=1']);
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies })) {
    const from = join(root, 'node_modules', dep);
    if (!existsSync(from)) continue;
    mkdirSync(dirname(join(dir, 'node_modules', dep)), { recursive: true });
    symlinkSync(from, join(dir, 'node_modules', dep), 'dir');
  }
  return { dir, how: `npm pack → ${basename(tarball)} unpacked into a fresh project; dependencies linked from the repo's node_modules` };
}

/** Copies `script` into the packed project and returns its path there (so it imports the package). */
export function intoProject(script) {
  const { dir } = packedProject();
  const to = join(dir, basename(script));
  copyFileSync(script, to);
  return to;
}
