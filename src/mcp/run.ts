/** One `execute` call of the MCP endpoint: a session run to its end, its output gathered. */
import type { FinalPayload, FinalStats, StreamEvent } from '../protocol/events.js';
import type { SessionManager } from '../session/manager.js';
import type { Logger } from '../logger.js';
import type { CallerIdentity } from '../tools/types.js';

export interface McpRunDeps {
  sessions: SessionManager;
  logger: Logger;
}

export interface McpRunInput {
  code: string;
  context: Record<string, unknown> | undefined;
  identity: CallerIdentity | undefined;
  /** Fires when the MCP client cancels the request or goes away: the session is cancelled. */
  signal: AbortSignal;
  /** Told about steps of a long run (tool calls, their progress, output), when the client asked. */
  progress: ((step: number, message: string) => void) | undefined;
}

export interface McpRunOutcome {
  sessionId: string;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
  /** `stdout` chunks and `log` lines (`[warn] …`), in order. */
  logs: string[];
  stats: FinalStats;
}

function describe(event: StreamEvent): string | undefined {
  switch (event.type) {
    case 'tool_call':
      return `calling ${event.payload.toolName}`;
    case 'tool_progress': {
      const { message, progress, total } = event.payload;
      return message ?? (progress !== undefined ? `tool progress ${progress}${total !== undefined ? `/${total}` : ''}` : undefined);
    }
    case 'tool_result_applied':
      return event.payload.ok ? 'tool call done' : 'tool call failed';
    case 'stdout':
      return event.payload.chunk.trimEnd() || undefined;
    case 'heartbeat':
      return 'running';
    default:
      return undefined;
  }
}

/**
 * Runs the code as a session of the caller and reads its events to the end. A tool the
 * broker does not serve would wait for the caller's client, which an MCP client cannot be:
 * such calls are answered at once with TOOL_NOT_FOUND.
 */
export async function runForMcp(deps: McpRunDeps, input: McpRunInput): Promise<McpRunOutcome> {
  const session = await deps.sessions.create({ code: input.code, context: input.context, identity: input.identity, attached: true });
  const cursor = session.readAsCreator();
  const onAbort = () => session.cancel();
  if (input.signal.aborted) onAbort();
  else input.signal.addEventListener('abort', onAbort, { once: true });
  const logs: string[] = [];
  let final: FinalPayload | undefined;
  let step = 0;
  try {
    for (let event = await cursor.next(); event; event = await cursor.next()) {
      if (event.type === 'stdout') logs.push(event.payload.chunk);
      else if (event.type === 'log') logs.push(`[${event.payload.level}] ${event.payload.message}\n`);
      else if (event.type === 'tool_call' && event.payload.handler === 'client') {
        const { callId, toolName } = event.payload;
        deps.sessions
          .submitToolResult(session.id, callId, { error: { code: 'TOOL_NOT_FOUND', message: `no tool named ${toolName}` } }, input.identity)
          .catch(() => {});
      } else if (event.type === 'final') final = event.payload;
      if (input.progress) {
        const message = describe(event);
        if (message !== undefined) input.progress(++step, message);
      }
    }
  } finally {
    input.signal.removeEventListener('abort', onAbort);
    cursor.close();
  }
  if (!final)
    return {
      sessionId: session.id,
      ok: false,
      error: { code: 'INTERNAL_ERROR', message: 'the session ended without a result' },
      logs,
      stats: { durationMs: 0, toolCallCount: 0, stdoutBytes: 0 },
    };
  return {
    sessionId: session.id,
    ok: final.ok,
    ...(final.result !== undefined ? { result: final.result } : {}),
    ...(final.error ? { error: { code: final.error.code, message: final.error.message } } : {}),
    logs,
    stats: final.stats,
  };
}
