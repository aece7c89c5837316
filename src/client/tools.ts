import type { ToolCallPayload } from '../protocol/events.js';
import type { ClientTools, FollowOptions, ToolAnswer } from './types.js';

export type SubmitAnswer = (callId: string, answer: ToolAnswer) => Promise<void>;

/**
 * Runs the client's handler for a `tool_call` with `handler: 'client'` and sends its answer.
 * A thrown error becomes `{ error: { message, code? } }`; an unknown name `TOOL_NOT_FOUND`
 * (unless `unknownTools` is `ignore`). Never rejects.
 */
export async function answerToolCall(
  call: ToolCallPayload,
  sessionId: string,
  options: FollowOptions,
  signal: AbortSignal,
  submit: SubmitAnswer,
): Promise<void> {
  const handler = ownHandler(options.tools, call.toolName);
  let answer: ToolAnswer;
  if (!handler) {
    if (options.unknownTools === 'ignore') return;
    answer = { error: { code: 'TOOL_NOT_FOUND', message: `no client tool named ${JSON.stringify(call.toolName)}` } };
  } else {
    try {
      const result = await handler(call.args ?? {}, { callId: call.callId, sessionId, signal });
      answer = { result: result === undefined ? null : result };
    } catch (err) {
      answer = { error: toToolError(err) };
    }
  }
  if (signal.aborted) return;
  await submit(call.callId, answer).catch(() => undefined);
}

function ownHandler(tools: ClientTools | undefined, name: string) {
  if (!tools || !Object.prototype.hasOwnProperty.call(tools, name)) return undefined;
  const handler = tools[name];
  return typeof handler === 'function' ? handler : undefined;
}

function toToolError(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown } | null | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return typeof e?.code === 'string' ? { message, code: e.code } : { message };
}
