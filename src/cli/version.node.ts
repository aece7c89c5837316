import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package's version: its package.json, found upward from this file (src/ or dist/src/). */
export function packageVersion(): string {
  for (let dir = new URL('.', import.meta.url); ; ) {
    try {
      const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('package.json', dir)), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'enclave-broker' && pkg.version) return pkg.version;
    } catch {
      // not here: look further up
    }
    const parent = new URL('..', dir);
    if (parent.href === dir.href) return 'unknown';
    dir = parent;
  }
}
