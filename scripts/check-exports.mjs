#!/usr/bin/env node
// Fails when package.json's `exports` and the build output (dist/, from `npm run build`) disagree:
// every target must exist, conditions must come in the order runtimes resolve them
// (types, bun, workerd, node, default), every adapter must have its subpath, and every
// subpath must offer types and a default.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const ORDER = ['types', 'bun', 'workerd', 'node', 'default'];
const problems = [];

function check(subpath, target, trail = []) {
  if (typeof target === 'string') {
    if (!existsSync(join(root, target))) problems.push(`${subpath} [${trail.join(' > ')}]: ${target} does not exist (run npm run build)`);
    if (trail.at(-1) === 'types' && !target.endsWith('.d.ts')) problems.push(`${subpath}: types points at ${target}, not a .d.ts`);
    if (trail.length && trail.at(-1) !== 'types' && target.endsWith('.d.ts')) problems.push(`${subpath}: ${trail.at(-1)} points at a .d.ts`);
    return;
  }
  const keys = Object.keys(target);
  const known = keys.filter((k) => ORDER.includes(k));
  const unknown = keys.filter((k) => !ORDER.includes(k));
  if (unknown.length) problems.push(`${subpath}: unknown conditions ${unknown.join(', ')}`);
  const sorted = [...known].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
  if (sorted.join() !== known.join()) problems.push(`${subpath}: conditions ${known.join(', ')} are out of order (want ${ORDER.join(', ')})`);
  if (!keys.includes('types')) problems.push(`${subpath}: no types condition`);
  if (!keys.includes('default')) problems.push(`${subpath}: no default condition`);
  for (const [k, v] of Object.entries(target)) check(subpath, v, [...trail, k]);
  // The types file must describe the default file.
  if (typeof target.types === 'string' && typeof target.default === 'string') {
    const want = target.default.replace(/\.js$/, '.d.ts');
    if (target.types !== want && subpath !== '.') problems.push(`${subpath}: types ${target.types} does not match default ${target.default}`);
  }
}

for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
  if (subpath === './package.json') continue;
  check(subpath, target);
}

// Every adapter is exported under its own name.
for (const file of readdirSync(join(root, 'adapters'))) {
  if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue;
  const name = `./${file.replace(/\.ts$/, '')}`;
  const entry = pkg.exports?.[name];
  if (!entry) problems.push(`adapters/${file} has no ${name} export`);
  else if (entry.default !== `./dist/adapters/${file.replace(/\.ts$/, '.js')}`)
    problems.push(`${name}: default is not dist/adapters/${file.replace(/\.ts$/, '.js')}`);
}
for (const field of ['main', 'types']) {
  if (pkg[field] && !existsSync(join(root, pkg[field]))) problems.push(`${field}: ${pkg[field]} does not exist`);
}

// Optional peers only their own subpaths import: the main entries (and so the Worker bundle)
// must not reach them through static imports.
const OPTIONAL_PEERS = ['ai', '@cloudflare/codemode'];
const IMPORT = /(?:^|[;\n])\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]/g;
function peersReached(entry) {
  const seen = new Set();
  const found = new Set();
  const stack = [join(root, entry)];
  while (stack.length) {
    const file = stack.pop();
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.')) stack.push(join(file, '..', spec));
      else if (OPTIONAL_PEERS.some((p) => spec === p || spec.startsWith(`${p}/`))) found.add(`${spec} (from ${file.slice(root.length)})`);
    }
  }
  return [...found];
}
for (const entry of ['dist/src/index.js', 'dist/adapters/workers.js', 'dist/adapters/node.js', 'dist/adapters/bun.js', 'dist/src/client/index.js']) {
  for (const peer of peersReached(entry)) problems.push(`${entry} imports the optional peer ${peer}`);
}

if (problems.length) {
  console.error(`package.json exports disagree with dist/:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`exports ok: ${Object.keys(pkg.exports).length} subpaths checked against dist/`);
