import { afterAll, beforeAll, describe } from 'vitest';
import type { Executor } from '../../src/pool/executor.js';
import { InlineExecutor } from '../../src/pool/inline.js';
import { WorkerPoolExecutor } from '../../src/pool/worker-pool.node.js';
import type { SandboxHandle, SandboxLimits, SandboxOutcome, SandboxSpec, ToolSettlement } from '../../src/sandbox/types.js';

export const LIMITS: SandboxLimits = {
  timeoutMs: 5000,
  memoryLimitBytes: 32 * 1024 * 1024,
  maxStackBytes: 256 * 1024,
  maxStdoutBytes: 1024 * 1024,
  maxResultBytes: 5 * 1024 * 1024,
};

export function spec(code: string, limits: Partial<SandboxLimits> = {}, context: unknown = {}): SandboxSpec {
  return { code, contextJson: JSON.stringify(context), limits: { ...LIMITS, ...limits } };
}

export type Seen =
  | { k: 'call'; id: number; name: string; args: unknown }
  | { k: 'out'; chunk: string }
  | { k: 'log'; level: string; message: string }
  | { k: 'settled'; id: number };

export interface Run {
  handle: SandboxHandle;
  seen: Seen[];
  done: Promise<SandboxOutcome>;
  finished: () => boolean;
}

/**
 * Starts a sandbox. `tool` answers each call (synchronously or later); returning undefined
 * leaves the call pending for the test to settle by hand.
 */
export function run(
  executor: Executor,
  s: SandboxSpec,
  tool?: (name: string, args: any, id: number) => ToolSettlement | Promise<ToolSettlement> | undefined,
): Run {
  const seen: Seen[] = [];
  let finished = false;
  let resolve!: (o: SandboxOutcome) => void;
  const done = new Promise<SandboxOutcome>((r) => (resolve = r));
  let doneCount = 0;
  let handle!: SandboxHandle;
  const pending: Array<() => void> = [];
  handle = executor.start(s, {
    onToolCall(id, name, argsJson) {
      seen.push({ k: 'call', id, name, args: JSON.parse(argsJson) });
      const answer = tool?.(name, JSON.parse(argsJson), id);
      if (answer === undefined) return;
      const settle = (a: ToolSettlement) => {
        seen.push({ k: 'settled', id });
        (handle ?? { settleTool() {} }).settleTool(id, a);
      };
      // Settle on a later turn, as a real tool would.
      if (answer instanceof Promise) void answer.then(settle);
      else pending.push(() => settle(answer)), setTimeout(() => pending.shift()?.(), 0);
    },
    onStdout(chunk) {
      seen.push({ k: 'out', chunk });
    },
    onLog(level, message) {
      seen.push({ k: 'log', level, message });
    },
    onDone(outcome) {
      doneCount++;
      if (doneCount > 1) throw new Error('onDone called twice');
      finished = true;
      resolve(outcome);
    },
  });
  return { handle, seen, done, finished: () => finished };
}

export function failureCode(o: SandboxOutcome): string | undefined {
  return o.ok ? undefined : o.error.code;
}

/**
 * Declares `body` once per executor (inline, and a one-worker pool), under `title`; `executor()`
 * gives the warmed executor inside the tests.
 */
export function describeOnEachExecutor(title: string, body: (executor: () => Executor) => void): void {
  for (const [name, create] of [
    ['InlineExecutor', () => new InlineExecutor()],
    ['WorkerPoolExecutor', () => new WorkerPoolExecutor({ minSize: 1, maxSize: 1 })],
  ] as const) {
    describe(`${name}: ${title}`, () => {
      let executor: Executor;
      beforeAll(async () => {
        executor = create();
        await executor.warm();
      });
      afterAll(() => executor.close());
      body(() => executor);
    });
  }
}
