import type { FinalStats } from '../protocol/events.js';

/**
 * Why a run of code failed: the broker's error code (SPEC §5: `RUNTIME_ERROR`, `TIMEOUT`,
 * `TOOL_ERROR`…, `CANCELLED` when the caller aborted), its message, and what the code printed
 * before it failed, so that a model can read what went wrong and try again.
 */
export class CodeExecutionError extends Error {
  override name = 'CodeExecutionError';
  readonly code: string;
  readonly details: unknown;
  readonly sessionId: string | undefined;
  /** Console output of the run, one entry a line (see `RunOutput.logs`). */
  readonly logs: string[];
  readonly stats: FinalStats | undefined;

  constructor(code: string, message: string, init: { details?: unknown; sessionId?: string; logs?: string[]; stats?: FinalStats; cause?: unknown } = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.details = init.details;
    this.sessionId = init.sessionId;
    this.logs = init.logs ?? [];
    this.stats = init.stats;
  }
}

export function isCodeExecutionError(err: unknown): err is CodeExecutionError {
  return err instanceof CodeExecutionError;
}
