import { describe, expect, it } from 'vitest';
import { InlineExecutor } from '../../src/pool/inline.js';
import { defineHostileCorpus, HOSTILE_CASES } from './corpus.js';

defineHostileCorpus('InlineExecutor', () => new InlineExecutor());

describe('hostile corpus data', () => {
  it('has at least 120 cases with unique ids in every class', () => {
    expect(HOSTILE_CASES.length).toBeGreaterThanOrEqual(120);
    expect(new Set(HOSTILE_CASES.map((c) => c.id)).size).toBe(HOSTILE_CASES.length);
    const classes = new Set(HOSTILE_CASES.map((c) => c.class));
    for (const cls of ['cpu', 'memory', 'async', 'io', 'serialization', 'bridge', 'cross-session', 'recon', 'compile']) {
      expect(classes.has(cls as never), cls).toBe(true);
    }
  });

  it('marks the cases only a killable thread can bound', () => {
    const pool = HOSTILE_CASES.filter((c) => c.needsPool);
    expect(pool.length).toBeGreaterThan(0);
    for (const c of pool) expect('anyOf' in c.expect || 'code' in c.expect, c.id).toBe(true);
  });
});
