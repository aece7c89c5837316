/**
 * Messages of the broker's structured log lines that carry figures (metrics are counted from
 * them). Fields are listed beside each.
 */
export const LOG = {
  /** debug `{ sessionId, tenant }` */
  sessionStarted: 'session started',
  /** info `{ sessionId, outcome ('completed' or an error code), durationMs, toolCallCount, stdoutBytes }` */
  sessionEnded: 'session ended',
  /** info `{ sessionId, callId, tool, handler, durationMs, outcome ('ok' or an error code), args? }` */
  toolCall: 'tool call',
  /** info `{ sessionId, callId, tool, decision ('approved', 'rejected' or 'timed out') }`: a call that needed approval was decided */
  approval: 'approval decided',
  /** warn `{ sessionId, code }`: the session broke one of its limits */
  limitHit: 'session limit hit',
  /** error/warn `{ path, code, requestId }`: an HTTP answer caused by the store or a broker limit */
  httpRefused: 'request refused',
} as const;

/** Error codes that mean a session broke one of its limits (SPEC §6). */
export const LIMIT_CODES: ReadonlySet<string> = new Set([
  'TIMEOUT',
  'MEMORY_LIMIT',
  'STACK_OVERFLOW',
  'MAX_TOOL_CALLS',
  'STDOUT_LIMIT',
  'RESULT_TOO_LARGE',
  'OUTPUT_BUDGET_EXCEEDED',
  'SESSION_EXPIRED',
]);
