import type { ToolCallPayload } from '../protocol/events.js';
import { renderDocumentation } from '../tools/documentation.js';
import type { ToolDefinition } from '../tools/types.js';
import type { ClientToolHandler, ClientTools, FollowOptions, ToolAnswer } from './types.js';

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

function ownHandler(tools: ClientTools | undefined, name: string): ClientToolHandler | undefined {
  if (!tools || !Object.hasOwn(tools, name)) return undefined;
  const entry = tools[name];
  if (typeof entry === 'function') return entry;
  return typeof entry?.handler === 'function' ? entry.handler : undefined;
}

/**
 * TypeScript declarations of client tools for an LLM prompt, in the same form as the server's
 * `ToolRegistry.getDocumentation()` (the same renderer): tools given as a bare handler are
 * declared by name with untyped arguments. `allow` keeps only the tools it accepts.
 */
export function getDocumentation(tools: ClientTools, allow?: (name: string) => boolean): string {
  const definitions: ToolDefinition[] = [];
  for (const [name, entry] of Object.entries(tools)) {
    if (allow && !allow(name)) continue;
    if (typeof entry === 'function') {
      definitions.push({ name, description: '', parameters: {}, handler: async () => undefined });
      continue;
    }
    const definition: ToolDefinition = { name, description: entry.description ?? '', parameters: entry.parameters ?? {}, handler: async () => undefined };
    if (entry.inputSchema) definition.inputSchema = entry.inputSchema;
    definitions.push(definition);
  }
  return renderDocumentation(definitions);
}

function toToolError(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown } | null | undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return typeof e?.code === 'string' ? { message, code: e.code } : { message };
}
