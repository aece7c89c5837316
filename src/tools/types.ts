/** Tool definitions of the reference's `ToolRegistry`. */

export type ParameterType = 'string' | 'number' | 'boolean' | 'object' | 'array';

export interface ParameterDef {
  type: ParameterType;
  description: string;
  required?: boolean;
  default?: unknown;
}

/** Who is calling, as established by authentication. */
export interface CallerIdentity {
  userId?: string;
  tenantId?: string;
  permissions?: string[];
}

/** What a handler may report with `ExecutionContext.progress`. */
export interface ToolProgress {
  message?: string;
  progress?: number;
  total?: number;
}

/**
 * What a server-side tool handler learns about the call it serves.
 *
 * Server tools run at least once: when the process running a durable session dies after a
 * handler started but before its result was journaled, the process that resumes the session
 * calls the handler again, with the same `callId`. A handler that uses `callId` as an
 * idempotency key (it does the work once per `callId` and answers repeats with the first
 * outcome) runs exactly once in effect.
 */
export interface ExecutionContext extends CallerIdentity {
  sessionId: string;
  /**
   * Stable for this call, also when a resumed session makes the call again (it is derived
   * from the session id and the call's position): usable as an idempotency key.
   */
  callId: string;
  toolName: string;
  /** Fires when the session is cancelled, times out or ends. */
  signal: AbortSignal;
  /** The request's `context` object. */
  context: Readonly<Record<string, unknown>>;
  /**
   * Reports progress as a `tool_progress` event `{ callId, message?, progress?, total? }`.
   * At most one event per call every 100 ms: a report within that window replaces the
   * previous unsent one, which is sent when the window ends (or before the call's result).
   * Ignored once the call is settled.
   */
  progress(update: ToolProgress): void;
}

export type ToolHandler = (args: Record<string, unknown>, context?: ExecutionContext) => Promise<unknown>;

export interface ToolDefinition {
  name: string;
  description: string;
  parameters: Record<string, ParameterDef>;
  handler: ToolHandler;
  /**
   * A JSON Schema for the arguments, for tools whose parameters do not fit `ParameterDef`
   * (OpenAPI actions). Shown by `getDocumentation()`; checked by `validateArgs`.
   */
  inputSchema?: Record<string, unknown>;
  /**
   * A JSON Schema of what the handler resolves to: `getDocumentation()` declares the call's
   * result with it (`Promise<…>` instead of `Promise<unknown>`). Documentation only; results
   * are not checked against it.
   */
  outputSchema?: Record<string, unknown>;
  /** Checks and normalises arguments instead of `parameters`; returns the problems found. */
  validateArgs?: (args: Record<string, unknown>) => { args: Record<string, unknown>; problems: string[] };
  /** Where the tool comes from, e.g. an OpenAPI service name. */
  source?: string;
  /**
   * Calls wait for a decision before the handler runs (docs/approvals.md): `true` for every
   * call, or a predicate of the (validated) arguments deciding per call. The session emits
   * `approval_required { callId, toolName, args }`; `POST /sessions/:id/approvals` (or
   * `broker.approve` / `broker.reject`) answers it. A rejected call fails in the guest with
   * `TOOL_APPROVAL_DENIED`. Permissions and parameters are checked before approval is asked.
   */
  needsApproval?: boolean | ApprovalPredicate;
  /**
   * How long a call waits for its decision, in ms; then it fails with `TOOL_APPROVAL_DENIED`
   * ("approval timed out"), and the wait does not count against the execution timeout.
   * Without it the wait counts against the execution timeout like any tool call.
   */
  approvalTimeoutMs?: number;
}

/** Decides whether one call of a tool needs approval (a thrown error fails the call with TOOL_ERROR). */
export type ApprovalPredicate = (args: Record<string, unknown>, context: ExecutionContext) => boolean | Promise<boolean>;
