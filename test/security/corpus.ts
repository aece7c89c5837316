import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/pool/executor.js';
import { assertExpectation, runScript, type CaseClass, type HostileCase } from './harness.js';
import { asyncCases } from './cases/async.js';
import { bridgeCases } from './cases/bridge.js';
import { compileCases } from './cases/compile.js';
import { cpuCases } from './cases/cpu.js';
import { crossSessionCases } from './cases/cross-session.js';
import { ioCases } from './cases/io.js';
import { memoryCases } from './cases/memory.js';
import { reconCases } from './cases/recon.js';
import { serializationCases } from './cases/serialization.js';

export const HOSTILE_CASES: readonly HostileCase[] = [
  ...cpuCases,
  ...memoryCases,
  ...asyncCases,
  ...ioCases,
  ...serializationCases,
  ...bridgeCases,
  ...crossSessionCases,
  ...reconCases,
  ...compileCases,
];

export interface CorpusOptions {
  /** Also run the cases marked `needsPool` (only an executor that can kill its thread bounds them). */
  includeNeedsPool?: boolean;
  /** Run the cases of one class concurrently (worth it when the executor has several threads). */
  concurrent?: boolean;
  /**
   * Other outcomes that also meet an expected code on this executor. With the full 256 KiB
   * QuickJS stack of a pool worker, deep recursion and GC thrash near the memory limit can
   * reach the deadline first: `{ STACK_OVERFLOW: ['TIMEOUT'] }`.
   */
  alsoAccept?: Record<string, string[]>;
  /** Expectations that differ on this executor, by case id (each with its reason beside it). */
  overrides?: Record<string, HostileCase['expect']>;
  /** Run every case as a durable session does (virtual clock, seeded random, host-run timers). */
  deterministic?: boolean;
}

/** Own keys of the host's built-in prototypes: a guest must never add or remove one. */
function prototypeSnapshot(): string {
  const protos = { Object: Object.prototype, Array: Array.prototype, Function: Function.prototype, String: String.prototype, Promise: Promise.prototype };
  return JSON.stringify(Object.entries(protos).map(([name, p]) => [name, Reflect.ownKeys(p).map(String).sort()]));
}

/**
 * Defines the corpus as vitest suites run on the executor `makeExecutor` builds (one per
 * class, closed afterwards). After every case the host must be unharmed: no late listener
 * calls, built-in prototypes unchanged, no exception escaped, and a plain session still works.
 */
export function defineHostileCorpus(label: string, makeExecutor: () => Executor, options: CorpusOptions = {}): void {
  const classes = [...new Set(HOSTILE_CASES.map((c) => c.class))] as CaseClass[];
  describe(`hostile corpus on ${label}`, () => {
    const escaped: unknown[] = [];
    const onEscape = (err: unknown) => escaped.push(err);
    let snapshot = '';
    beforeAll(() => {
      snapshot = prototypeSnapshot();
      process.on('uncaughtException', onEscape);
      process.on('unhandledRejection', onEscape);
    });
    afterAll(() => {
      process.off('uncaughtException', onEscape);
      process.off('unhandledRejection', onEscape);
    });

    for (const cls of classes) {
      const cases = HOSTILE_CASES.filter((c) => c.class === cls && (options.includeNeedsPool || !c.needsPool));
      const group = options.concurrent ? describe.concurrent : describe;
      group(cls, () => {
        let executor: Executor;
        // biome-ignore lint/suspicious/noDuplicateTestHooks: one pair of hooks per generated group
        beforeAll(async () => {
          executor = makeExecutor();
          await executor.warm();
        });
        // biome-ignore lint/suspicious/noDuplicateTestHooks: one pair of hooks per generated group
        afterAll(async () => {
          await executor.close();
        });
        for (const c of cases) {
          it(c.id, async () => {
            const run = await runScript(executor, c.code, { ...c, deterministic: options.deterministic });
            assertExpectation(c.id, widen(options.overrides?.[c.id] ?? c.expect, options.alsoAccept), run);
            c.check?.(run);
            expect(run.late, `${c.id}: host heard from the session after it ended`).toEqual([]);
            expect(run.doneCount).toBe(1);
            if (c.next) {
              const next = await runScript(executor, c.next.code, { tools: c.tools, deterministic: options.deterministic });
              assertExpectation(`${c.id} (next session)`, c.next.expect, next);
              c.next.check?.(next);
            }
            // The host is unharmed.
            const canary = await runScript(executor, 'return 1 + 2', { deterministic: options.deterministic });
            assertExpectation(`${c.id} (canary)`, { ok: true, value: 3 }, canary);
            expect(prototypeSnapshot(), `${c.id}: host prototypes changed`).toBe(snapshot);
            expect(({} as Record<string, unknown>).polluted).toBeUndefined();
            expect(escaped, `${c.id}: an exception escaped to the host`).toEqual([]);
          }, 30_000);
        }
      });
    }
  });
}

/** An expected code, widened by the executor's `alsoAccept` alternatives. */
function widen(expect: HostileCase['expect'], alsoAccept: Record<string, string[]> | undefined): HostileCase['expect'] {
  if (!alsoAccept) return expect;
  if ('code' in expect && !expect.message && alsoAccept[expect.code]) return { anyOf: [expect.code, ...alsoAccept[expect.code]!] };
  if ('anyOf' in expect) return { ...expect, anyOf: [...new Set(expect.anyOf.flatMap((c) => [c, ...(alsoAccept[c] ?? [])]))] };
  return expect;
}
