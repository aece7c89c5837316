import type { Executor } from '../../src/pool/executor.js';
import type { LogLevel } from '../../src/protocol/events.js';
import type { SandboxHandle, SandboxLimits, SandboxOutcome, ToolSettlement } from '../../src/sandbox/types.js';

/** The classes of hostile code the corpus covers (see README.md). */
export type CaseClass = 'cpu' | 'memory' | 'async' | 'io' | 'serialization' | 'bridge' | 'cross-session' | 'recon' | 'compile';

/** A host-side tool the guest may call. Its return value is sent back as JSON. */
export type ToolImpl = (args: unknown) => unknown;

/** Returned by a tool: the host never answers this call. */
export const NEVER: unique symbol = Symbol('never answered');

/** Answers with this JSON text as it is (to send keys such as `__proto__`). */
export class RawJson {
  constructor(readonly json: string) {}
}

/** What a case must end with. */
export type Expectation =
  /** Finished normally; `value` (when given) deep-equals the parsed result. */
  | { ok: true; value?: unknown; noResult?: true }
  /** Failed with this SPEC §5 code; `message` (when given) matches the error message, `name` (when given) is the error's name. */
  | { code: string; message?: RegExp; name?: string }
  /** Only for `needsPool` cases whose outcome depends on which limit trips first. */
  /** One of these codes; with `orValue`, also `ok` with that value. */
  | { anyOf: string[]; orValue?: unknown };

export interface HostileCase {
  /** Unique, stable: `class/short-name`. */
  id: string;
  class: CaseClass;
  /** The agent's code (the body of an async function). */
  code: string;
  expect: Expectation;
  /** Per-case limits on top of the small corpus defaults. */
  limits?: Partial<SandboxLimits>;
  context?: unknown;
  /** Tools the host answers (asynchronously, like a real session); anything else gets TOOL_NOT_FOUND. */
  tools?: Record<string, ToolImpl>;
  /** Answer tool calls synchronously from inside `onToolCall` (a host that answers at once). */
  syncTools?: boolean;
  /** Extra assertions on what the host saw; throw to fail. */
  check?: (run: CaseRun) => void;
  /** Wait this long after the end and assert nothing more reached the host. */
  quietMs?: number;
  /** Runs after this case on the same executor (the next session). */
  next?: { code: string; expect: Expectation; check?: (run: CaseRun) => void };
  /**
   * A native built-in ignores the interrupt for long: only an executor that can kill its
   * thread bounds it. The inline run skips these; a pool executor runs them.
   */
  needsPool?: boolean;
}

export interface CaseRun {
  outcome: SandboxOutcome;
  /** Parsed `resultJson` when ok and present. */
  value?: unknown;
  stdout: string;
  logs: Array<{ level: LogLevel; message: string }>;
  /** Tool calls as the host received them: the name and the parsed JSON arguments. */
  toolCalls: Array<{ name: string; args: unknown; argsJson: string }>;
  /** Listener calls that arrived after `onDone` (must stay empty). */
  late: string[];
  doneCount: number;
}

export const CORPUS_LIMITS: SandboxLimits = {
  timeoutMs: 5000,
  memoryLimitBytes: 32 * 1024 * 1024,
  maxStackBytes: 256 * 1024,
  maxStdoutBytes: 64 * 1024,
  maxResultBytes: 256 * 1024,
};

/** Runs one script to its end on `executor` and records everything the host saw. */
export function runScript(
  executor: Executor,
  code: string,
  options: Pick<HostileCase, 'limits' | 'context' | 'tools' | 'syncTools' | 'quietMs'> & { deterministic?: boolean | undefined } = {},
): Promise<CaseRun> {
  return new Promise<CaseRun>((resolve, reject) => {
    const run: CaseRun = {
      outcome: { ok: true },
      stdout: '',
      logs: [],
      toolCalls: [],
      late: [],
      doneCount: 0,
    };
    let done = false;
    const tools = options.tools ?? {};
    const answer = (name: string, args: unknown): ToolSettlement | undefined => {
      const impl = Object.hasOwn(tools, name) ? tools[name] : undefined;
      if (!impl) return { ok: false, error: { message: `no tool named ${name}`, code: 'TOOL_NOT_FOUND' } };
      try {
        const value = impl(args);
        if (value === NEVER) return undefined;
        if (value instanceof RawJson) return { ok: true, resultJson: value.json };
        return value === undefined ? { ok: true } : { ok: true, resultJson: JSON.stringify(value) };
      } catch (err) {
        return { ok: false, error: { message: err instanceof Error ? err.message : String(err), code: 'TOOL_ERROR' } };
      }
    };
    let handle: SandboxHandle | undefined;
    // A durable session's host runs the guest's timers (see Session): so does this one.
    const timers = new Map<number, ReturnType<typeof setTimeout>>();
    const deterministic = options.deterministic
      ? {
          onTimerSet(id: number, ms: number) {
            if (done) run.late.push(`timer ${id}`);
            timers.set(
              id,
              setTimeout(() => {
                timers.delete(id);
                handle?.fireTimer(id, Date.now());
              }, ms),
            );
          },
          onTimerCleared(id: number) {
            clearTimeout(timers.get(id));
            timers.delete(id);
          },
        }
      : {};
    handle = executor.start(
      {
        code,
        contextJson: JSON.stringify(options.context ?? {}),
        limits: { ...CORPUS_LIMITS, ...options.limits },
        ...(options.deterministic ? { determinism: { seed: 42, startTime: Date.now() } } : {}),
      },
      {
        ...deterministic,
        onToolCall(id, name, argsJson) {
          if (done) run.late.push(`tool_call ${name}`);
          // The host only ever sees JSON text; parse it like the session layer does.
          const args: unknown = JSON.parse(argsJson);
          run.toolCalls.push({ name, args, argsJson });
          const settlement = answer(name, args);
          if (!settlement) return;
          // The handle exists once start() returned: code that runs inside start() is answered later.
          if (options.syncTools && handle) handle.settleTool(id, settlement);
          else setTimeout(() => handle?.settleTool(id, settlement), 0);
        },
        onStdout(chunk) {
          if (done) run.late.push(`stdout ${chunk.slice(0, 80)}`);
          run.stdout += chunk;
        },
        onLog(level, message) {
          if (done) run.late.push(`log ${message.slice(0, 80)}`);
          run.logs.push({ level, message });
        },
        onDone(outcome) {
          run.doneCount++;
          if (done) {
            run.late.push('done again');
            return;
          }
          done = true;
          for (const timer of timers.values()) clearTimeout(timer);
          run.outcome = outcome;
          try {
            if (outcome.ok && outcome.resultJson !== undefined) run.value = JSON.parse(outcome.resultJson);
          } catch (err) {
            reject(err);
            return;
          }
          setTimeout(() => resolve(run), options.quietMs ?? 0);
        },
      },
    );
  });
}

/** Throws when `run` does not meet `expect`. */
export function assertExpectation(id: string, expect: Expectation, run: CaseRun): void {
  const got = run.outcome.ok ? `ok ${run.outcome.resultJson ?? '(no result)'}` : `${run.outcome.error.code}: ${run.outcome.error.message}`;
  const fail = (why: string): never => {
    throw new Error(`${id}: ${why}; got ${got.slice(0, 300)}`);
  };
  if ('ok' in expect) {
    if (!run.outcome.ok) fail('expected ok');
    if (expect.noResult && run.outcome.ok && run.outcome.resultJson !== undefined) fail('expected no result');
    if ('value' in expect && !deepEqual(run.value, expect.value)) fail(`expected value ${JSON.stringify(expect.value)}`);
    return;
  }
  if ('anyOf' in expect) {
    if (run.outcome.ok && 'orValue' in expect && deepEqual(run.value, expect.orValue)) return;
    if (run.outcome.ok || !expect.anyOf.includes(run.outcome.error.code)) fail(`expected one of ${expect.anyOf.join(', ')}`);
    return;
  }
  if (run.outcome.ok) fail(`expected ${expect.code}`);
  if (!run.outcome.ok && run.outcome.error.code !== expect.code) fail(`expected ${expect.code}`);
  if (!run.outcome.ok && expect.message && !expect.message.test(run.outcome.error.message)) {
    fail(`expected a message matching ${expect.message}`);
  }
  if (!run.outcome.ok && expect.name !== undefined && run.outcome.error.name !== expect.name) {
    fail(`expected the name ${expect.name}, got ${String(run.outcome.error.name)}`);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
