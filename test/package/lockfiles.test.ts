import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
// @ts-expect-error a plain .mjs script without declarations
import { compareLocks, parseBunLock } from '../../scripts/check-bun-lock.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(join(root, file), 'utf8');

describe('bun.lock', () => {
  it('is committed, in bun’s text format, and in step with package-lock.json', async () => {
    const bunLock = parseBunLock(read('bun.lock'));
    expect(bunLock.lockfileVersion).toBeGreaterThanOrEqual(1);
    expect(compareLocks(JSON.parse(read('package.json')), JSON.parse(read('package-lock.json')), bunLock)).toEqual([]);
    const { stdout } = await promisify(execFile)(process.execPath, ['scripts/check-bun-lock.mjs'], { cwd: root });
    expect(stdout).toContain('bun.lock ok');
  });

  it('the check notices a package or a range that moved in one lockfile only', () => {
    const pkg = JSON.parse(read('package.json'));
    const npmLock = JSON.parse(read('package-lock.json'));
    const bunLock = parseBunLock(read('bun.lock'));
    npmLock.packages['node_modules/hono'].version = '4.0.0';
    expect(compareLocks(pkg, npmLock, bunLock).join('\n')).toMatch(/hono@4\.0\.0/);
    pkg.dependencies.zod = '9.9.9';
    expect(compareLocks(pkg, JSON.parse(read('package-lock.json')), bunLock)).toEqual(["bun.lock dependencies differ from package.json's"]);
  });
});
