import type { EventFilter, FinalPayload, LogPayload, StreamEvent } from '../protocol/events.js';
import type { ParameterDef } from '../tools/types.js';

export type HeadersSource = HeadersInit | (() => HeadersInit | Promise<HeadersInit>);

export interface RetryOptions {
  /** Reconnection attempts in a row without progress before giving up (default 5). */
  attempts?: number;
  /** First delay in ms, doubled each attempt (default 200). */
  baseDelayMs?: number;
  /** Largest delay in ms (default 5000). */
  maxDelayMs?: number;
  /**
   * A run refused with 429 or 503 before its session was created is sent again after the
   * answer's `Retry-After` (else the backoff delay), up to `attempts` times, while the waits add
   * up to at most this many ms (default 30000; 0: never).
   */
  budgetMs?: number;
}

export interface EnclaveClientOptions {
  /** The broker's URL, e.g. `https://broker.example.com` or `http://localhost:3001/enclave`. */
  baseUrl: string;
  /** Sent with every request; a function is called per request (rotating tokens). */
  headers?: HeadersSource;
  /** A fetch implementation (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** How dropped streams and tool results are retried. */
  retry?: RetryOptions;
}

export interface ToolCallContext {
  callId: string;
  sessionId: string;
  /** Aborted when the call is aborted or the stream ends. */
  signal: AbortSignal;
}

export type ClientToolHandler = (args: Record<string, unknown>, ctx: ToolCallContext) => unknown;

/**
 * A client tool with the declarations a server tool has (`ToolRegistry.register`'s fields but
 * `name`): `getDocumentation(tools)` renders them like the server's `getDocumentation()`.
 */
export interface ClientToolDefinition {
  description?: string;
  parameters?: Record<string, ParameterDef>;
  /** A JSON Schema of the arguments (instead of `parameters`). */
  inputSchema?: Record<string, unknown>;
  handler: ClientToolHandler;
}

/** Client tools by name: a handler, or a definition with a description and parameters. */
export type ClientTools = Record<string, ClientToolHandler | ClientToolDefinition>;

export interface FollowOptions {
  /** Handlers answering `tool_call` events with `handler: 'client'`. */
  tools?: ClientTools;
  /**
   * What to do with a client tool call no handler matches: `reject` answers it with
   * `TOOL_NOT_FOUND` (default), `ignore` leaves it to the caller (`submitToolResult`).
   */
  unknownTools?: 'reject' | 'ignore';
  /**
   * Decides the calls that wait for approval (`approval_required` events), as they arrive:
   * `true` approves, `false` rejects, `{ approve, reason }` says why; `undefined` leaves the
   * call waiting (answer it with `client.approve()` / `client.reject()`). A thrown error
   * rejects the call with its message as the reason.
   */
  onApproval?: (request: ApprovalRequest) => ApprovalAnswer | null | undefined | Promise<ApprovalAnswer | null | undefined>;
  /** Events to drop from what this call yields (`final` and fatal `error` always pass). */
  filter?: EventFilter;
  /** Aborting cancels the session on the broker and rejects with code `CANCELLED`. */
  signal?: AbortSignal;
  /** Called once with the session's id as soon as it is known (e.g. for `cancel(id)`). */
  onSession?: (sessionId: string) => void;
}

export interface ExecuteOptions extends FollowOptions {
  context?: Record<string, unknown>;
  /** Execution timeout in ms (may only lower the broker's). */
  timeout?: number;
  maxToolCalls?: number;
  /** Limits (may only lower the broker's), and `resultOverflow` (`'truncate'` cuts a result over `maxResultBytes` to fit). */
  limits?: Partial<Record<LimitName, number>> & { resultOverflow?: 'error' | 'truncate' };
  /** Called with every event `execute()` sees. */
  onEvent?: (event: StreamEvent) => void;
}

export type LimitName =
  | 'timeoutMs'
  | 'maxToolCalls'
  | 'memoryLimitBytes'
  | 'maxStackBytes'
  | 'maxStdoutBytes'
  | 'maxCodeBytes'
  | 'maxResultBytes'
  | 'heartbeatIntervalMs'
  | 'disconnectGraceMs'
  | 'outputBudgetBytes';

export interface SessionInfo {
  id: string;
  status: 'pending' | 'running' | 'completed' | 'error';
  createdAt: number;
  expiresAt: number;
  [key: string]: unknown;
}

export interface HealthInfo {
  status: 'ok';
  uptime: number;
  sessions: { active: number; total: number };
  [key: string]: unknown;
}

/** What `onApproval` is asked about: an `approval_required` event of a session. */
export interface ApprovalRequest {
  callId: string;
  toolName: string;
  args: Record<string, unknown>;
  sessionId: string;
  /** Aborted when the stream ends (the decision is then not sent). */
  signal: AbortSignal;
}

/** `onApproval`'s answer. */
export type ApprovalAnswer = boolean | { approve: boolean; reason?: string };

/** The body of `POST /sessions/:id/approvals`. */
export interface ApprovalDecisionBody {
  callId: string;
  approve: boolean;
  reason?: string;
}

/** A tool call's answer: a result, or `{ error }`. */
export type ToolAnswer = { result: unknown } | { error: { message: string; code?: string } };

/** What `run()` resolves to: the result and everything the session printed and logged. */
export interface RunResult<T = unknown> {
  /** `final.result` (absent when the code returned `undefined`). */
  result: T;
  sessionId: string;
  /** Every `stdout` chunk, joined. */
  stdout: string;
  /** Every `log` event's payload (`console.debug/info/warn/error`), in order. */
  logs: LogPayload[];
  stats: FinalPayload['stats'];
}
