// What the docs say about the package, checked against the package.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as root from '../../src/index.js';
import { HTTP_STATUS } from '../../src/protocol/errors.js';

const docsDir = fileURLToPath(new URL('../../docs', import.meta.url));
const docs = (function read(dir: string): [string, string][] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? read(join(dir, e.name))
      : e.name.endsWith('.md')
        ? [[join(dir, e.name), readFileSync(join(dir, e.name), 'utf8')] as [string, string]]
        : [],
  );
})(docsDir);
const protocol = readFileSync(join(docsDir, 'protocol.md'), 'utf8');

describe('docs', () => {
  it('say no root export is missing from the root', () => {
    for (const name of Object.keys(root)) {
      for (const [file, text] of docs) {
        const flat = text.replace(/\s+/g, ' ');
        for (const m of flat.matchAll(/[^.]*\bnot exported\b[^.]*/g)) expect(m[0], `${file}: ${m[0]}`).not.toContain(name);
      }
    }
  });

  it('list every HTTP error code with its status', () => {
    for (const [code, status] of Object.entries(HTTP_STATUS)) {
      expect(protocol, code).toMatch(new RegExp(`\\| ${status} \\| \`${code}\` \\||\`${status} ${code}\``));
    }
  });

  it('document final.error.stack and the pending-timer cap', () => {
    expect(protocol).toMatch(/error\?: \{ code, message, name\?, stack\?, details\? \}/);
    const sandbox = readFileSync(fileURLToPath(new URL('../../src/sandbox/timers.ts', import.meta.url)), 'utf8');
    const cap = Number(/const MAX_TIMERS = ([\d_]+)/.exec(sandbox)![1]!.replace(/_/g, ''));
    expect(protocol).toContain(`capped at ${cap.toLocaleString('en-US').replace(/,/g, ' ')} per session`);
    expect(protocol).toContain(/throw new Error\('([^']+)'\)/.exec(sandbox.slice(sandbox.indexOf('MAX_TIMERS) throw')))![1]!);
  });
});
