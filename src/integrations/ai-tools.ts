import { asSchema, type ToolSet } from 'ai';
import type { ToolDefinition } from '../tools/types.js';
import type { LocalTool } from './runner.js';

/**
 * AI SDK tools as the code sees them: client tools of the run, answered in this process by
 * the tool's own `execute` after its `inputSchema` checked the arguments, and declared from
 * that schema (zod, Standard Schema or `jsonSchema()`). Tools without `execute` and tools
 * with `needsApproval` are left out: nobody could answer the first, and the code cannot
 * stop for the second.
 */
export function aiToolsForCode(tools: ToolSet | undefined): { handlers: Record<string, LocalTool>; definitions: ToolDefinition[] } {
  const handlers: Record<string, LocalTool> = {};
  const definitions: ToolDefinition[] = [];
  if (!tools) return { handlers, definitions };
  for (const [name, tool] of Object.entries(tools)) {
    if (!tool || typeof tool.execute !== 'function' || tool.needsApproval) continue;
    const schema = tool.inputSchema === undefined ? undefined : asSchema(tool.inputSchema as never);
    const execute = tool.execute.bind(tool) as (input: unknown, options: unknown) => unknown;
    handlers[name] = async (args, signal) => {
      let input: unknown = args;
      if (schema?.validate) {
        const checked = await schema.validate(args);
        if (!checked.success) throw Object.assign(new Error(`invalid arguments for ${name}: ${checked.error.message}`), { code: 'TOOL_ARGS_INVALID' });
        input = checked.value;
      }
      return lastValue(await execute(input, { toolCallId: `code:${name}`, messages: [], abortSignal: signal, context: undefined }));
    };
    const definition: ToolDefinition = {
      name,
      description: typeof tool.description === 'string' ? tool.description : '',
      parameters: {},
      handler: async () => undefined,
      inputSchema: syncJsonSchema(schema?.jsonSchema) ?? { type: 'object' },
    };
    const output = tool.outputSchema === undefined ? undefined : syncJsonSchema(asSchema(tool.outputSchema as never).jsonSchema);
    if (output) definition.outputSchema = output;
    definitions.push(definition);
  }
  return { handlers, definitions };
}

/** A schema's JSON Schema when it is at hand (a converter may answer a promise: then none). */
function syncJsonSchema(value: unknown): Record<string, unknown> | undefined {
  if (!value || typeof value !== 'object' || typeof (value as { then?: unknown }).then === 'function') return undefined;
  return value as Record<string, unknown>;
}

/** A streaming tool (an async iterable of preliminary results) answers its last value. */
async function lastValue(value: unknown): Promise<unknown> {
  if (value && typeof value === 'object' && Symbol.asyncIterator in value && !Array.isArray(value)) {
    let last: unknown;
    for await (const item of value as AsyncIterable<unknown>) last = item;
    return last;
  }
  return value;
}
