import type { LogLevel } from '../protocol/events.js';
import type { DeterminismSpec } from './determinism.js';

/** Limits one sandbox enforces on itself. */
export interface SandboxLimits {
  /** Wall-clock budget from start, tool waits included. */
  timeoutMs: number;
  memoryLimitBytes: number;
  maxStackBytes: number;
  /** Bytes of console output (stdout and log events together). */
  maxStdoutBytes: number;
  maxResultBytes: number;
  /** `truncate`: a final result over `maxResultBytes` is handed over whole, for the owner to cut. */
  resultOverflow?: 'error' | 'truncate';
}

export interface SandboxSpec {
  code: string;
  /** JSON text of the context object (frozen inside the guest). */
  contextJson: string;
  limits: SandboxLimits;
  /**
   * When set, `Math.random` and `Date` are made replayable (see determinism.ts), and a
   * listener with `onTimerSet` runs the guest's timers (see there).
   */
  determinism?: DeterminismSpec;
  /**
   * When set, the guest gets the `tools` global (`tools.users.list(args)`), built on first
   * read from this plan (see tool-namespace.ts).
   */
  toolNamespace?: string;
  /**
   * A host-side ceiling below `limits.memoryLimitBytes` (the engine's own limit stays that):
   * the module's memory may grow by this much, and the first refusal ends the sandbox with
   * `MEMORY_LIMIT` even when the guest catches the engine's error and goes on. For a run whose
   * `MEMORY_LIMIT` means "run it again elsewhere with the full limit" (pool/first-turn.ts):
   * nothing the guest sees differs from a run under the full limit that did not reach it.
   */
  memoryCeilingBytes?: number;
}

export type SandboxErrorCode =
  | 'SYNTAX_ERROR'
  | 'RUNTIME_ERROR'
  | 'TIMEOUT'
  | 'MEMORY_LIMIT'
  | 'STACK_OVERFLOW'
  | 'STDOUT_LIMIT'
  | 'INVALID_RESULT'
  | 'RESULT_TOO_LARGE'
  | 'SANDBOX_CRASHED'
  | (string & {});

export interface SandboxFailure {
  code: SandboxErrorCode;
  message: string;
  /** The guest's own stack, when the guest threw. */
  stack?: string;
  /** The thrown Error's `name` (RUNTIME_ERROR, SYNTAX_ERROR). */
  name?: string;
  /** What else JSON can carry of the thrown value: its string or number `code` (SPEC §5). */
  details?: { code: string | number };
  /** True when the engine failed, not the code: the session may be retried. */
  recoverable?: boolean;
}

export type SandboxOutcome = { ok: true /** JSON text of the result; absent for `undefined`. */; resultJson?: string } | { ok: false; error: SandboxFailure };

/** What a sandbox reports to whoever runs it. Calls arrive in the order they happened. */
export interface SandboxListener {
  /** The guest called `callTool(name, args)`; `argsJson` is the guest's own JSON text. */
  onToolCall(id: number, name: string, argsJson: string): void;
  onStdout(chunk: string): void;
  onLog(level: LogLevel, message: string): void;
  /** Exactly once, last. */
  onDone(outcome: SandboxOutcome): void;
  /**
   * Optional, polled by the interrupt handler while guest code runs (about every 10 000
   * instructions). A failure returned stops the guest as `abort()` would. Lets another thread
   * stop a guest that holds this thread (its `abort()` message could not be read meanwhile).
   */
  pollAbort?(): SandboxFailure | undefined;
  /**
   * Optional: the thread is about to run guest code (`true`) or got it back (`false`). Lets
   * a pool see at once that a worker is held by guest code.
   */
  onGuest?(running: boolean): void;
  /**
   * Optional: the code has run up to its first wait (or its end). Called only by executors
   * whose `reportsStart` is true (a pool, where a sandbox may queue behind others first);
   * elsewhere the code runs within `start()`.
   */
  onStarted?(): void;
  /**
   * Optional: the listener runs the guest's timers (a deterministic session, whose firings
   * are journaled; a first turn, which never fires them). The sandbox then keeps no host
   * timer; when the guest yields it reports each timer it set (and that is still pending)
   * with its delay in ms, and each reported timer it cleared.
   * The listener fires a timer with `SandboxHandle.fireTimer` (a timer set and cleared in
   * the same turn of the guest is never reported).
   */
  onTimerSet?(id: number, delayMs: number): void;
  onTimerCleared?(id: number): void;
}

/** A tool outcome for the guest: the result's JSON text, or an error. */
export type ToolSettlement = ({ ok: true; resultJson?: string } | { ok: false; error: { message: string; code: string; details?: unknown } }) & {
  /** Epoch ms the guest's virtual clock moves to when this is applied (deterministic sessions). */
  at?: number;
};

/** A running sandbox, as seen by its owner. */
export interface SandboxHandle {
  settleTool(id: number, settlement: ToolSettlement): void;
  /**
   * Runs the callback of timer `id` (one reported by `onTimerSet`), after moving the virtual
   * clock to `at`. A timer cleared or fired already is ignored, clock included.
   */
  fireTimer(id: number, at: number): void;
  /**
   * Moves the execution deadline by `ms` (later when positive, earlier when negative): time
   * that must not count against the timeout (a wait for an approval with its own timeout).
   * No-op once done.
   */
  extendDeadline(ms: number): void;
  /** Stops the guest; `onDone` follows with this failure. No-op once done. */
  abort(failure: SandboxFailure): void;
}
