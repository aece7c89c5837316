/** A `tools/call` answer → what the guest's `callTool` resolves to (or the error it rejects with). */
import { BrokerError } from '../protocol/errors.js';

interface ContentBlock {
  type: string;
  text?: string;
}

export interface CallAnswer {
  content?: ContentBlock[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  toolResult?: unknown;
}

function textOf(content: ContentBlock[] | undefined): string | undefined {
  const texts = (content ?? []).filter((c) => c.type === 'text' && typeof c.text === 'string').map((c) => c.text!);
  return texts.length ? texts.join('\n') : undefined;
}

/**
 * `isError` → a `TOOL_ERROR` carrying the text; else `structuredContent`; else the text
 * content, parsed when it is JSON; else the content blocks as they are (images, resources).
 */
export function unwrapCallResult(toolName: string, answer: CallAnswer): unknown {
  if (answer.isError) {
    throw new BrokerError('TOOL_ERROR', textOf(answer.content) ?? `${toolName} failed`);
  }
  if (answer.structuredContent !== undefined) return answer.structuredContent;
  if (answer.content === undefined && 'toolResult' in answer) return answer.toolResult;
  const text = textOf(answer.content);
  if (text === undefined) return answer.content ?? null;
  const trimmed = text.trim();
  if (/^[[{"\d-]|^(true|false|null)$/.test(trimmed)) {
    try {
      return JSON.parse(trimmed);
    } catch {
      // not JSON: the text itself
    }
  }
  return text;
}
