/** The NDJSON stream of a session (SPEC §3). */
export const PROTOCOL_VERSION = 2;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface SessionLimits {
  timeoutMs: number;
  maxToolCalls: number;
  memoryLimitBytes: number;
  maxStdoutBytes: number;
}

export interface SessionInitPayload {
  expiresAt: string;
  limits: SessionLimits;
  cancelUrl: string;
  toolResultUrl: string;
  replayUrl: string;
  /** Always `{ enabled: false }`: upstream's stream schema requires the field. */
  encryption: { enabled: false };
}

export interface StdoutPayload {
  chunk: string;
}

export interface LogPayload {
  level: LogLevel;
  message: string;
  data?: unknown;
}

export interface ToolCallPayload {
  callId: string;
  toolName: string;
  args: Record<string, unknown>;
  handler: 'server' | 'client';
}

export interface ToolResultAppliedPayload {
  callId: string;
  ok: boolean;
  durationMs: number;
}

/** A server tool's report of how far it got (`ExecutionContext.progress`). */
export interface ToolProgressPayload {
  callId: string;
  message?: string;
  progress?: number;
  total?: number;
}

/** A call to a tool that needs approval waits for `POST /sessions/:id/approvals` (see docs/approvals.md). */
export interface ApprovalRequiredPayload {
  callId: string;
  toolName: string;
  args: Record<string, unknown>;
}

export interface HeartbeatPayload {
  ts: string;
}

export interface ErrorPayload {
  code: string;
  message: string;
  recoverable: boolean;
  details?: unknown;
}

export interface FinalStats {
  durationMs: number;
  toolCallCount: number;
  stdoutBytes: number;
}

export interface FinalPayload {
  ok: boolean;
  result?: unknown;
  /** The result was cut to fit `maxResultBytes` (`resultOverflow: 'truncate'`). */
  truncated?: true;
  error?: { code: string; message: string; name?: string; stack?: string; details?: unknown };
  stats: FinalStats;
}

export interface CatalogChangedPayload {
  version: string;
  addedActions: string[];
  removedActions: string[];
}

export interface EventPayloads {
  session_init: SessionInitPayload;
  stdout: StdoutPayload;
  log: LogPayload;
  tool_call: ToolCallPayload;
  tool_result_applied: ToolResultAppliedPayload;
  tool_progress: ToolProgressPayload;
  approval_required: ApprovalRequiredPayload;
  heartbeat: HeartbeatPayload;
  error: ErrorPayload;
  final: FinalPayload;
  catalog_changed: CatalogChangedPayload;
}

export type EventType = keyof EventPayloads;

export const EVENT_TYPES: readonly EventType[] = [
  'session_init',
  'stdout',
  'log',
  'tool_call',
  'tool_result_applied',
  'tool_progress',
  'approval_required',
  'heartbeat',
  'error',
  'final',
  'catalog_changed',
];

export interface EventEnvelope<T extends EventType = EventType> {
  protocolVersion: typeof PROTOCOL_VERSION;
  sessionId: string;
  seq: number;
  timestamp: number;
  type: T;
  payload: EventPayloads[T];
}

/** One event of a session's stream. */
export type StreamEvent = { [K in EventType]: EventEnvelope<K> }[EventType];

export interface EventFilter {
  types?: string[];
  blockedTypes?: string[];
}

/** `final` and fatal `error` events are never filtered out. */
export function isUnfilterable(event: StreamEvent): boolean {
  return event.type === 'final' || (event.type === 'error' && !event.payload.recoverable);
}

/** A predicate for `filter`; `undefined` when the filter lets everything through. */
export function compileFilter(filter: EventFilter | undefined): ((e: StreamEvent) => boolean) | undefined {
  if (!filter) return undefined;
  const allow = filter.types && filter.types.length > 0 ? new Set(filter.types) : undefined;
  const block = filter.blockedTypes && filter.blockedTypes.length > 0 ? new Set(filter.blockedTypes) : undefined;
  if (!allow && !block) return undefined;
  return (e) => {
    if (isUnfilterable(e)) return true;
    if (allow && !allow.has(e.type)) return false;
    if (block?.has(e.type)) return false;
    return true;
  };
}
