/**
 * `enclave-broker/ai`: code mode for the Vercel AI SDK (`ai` 7). One AI SDK tool, `{ code }`,
 * whose description declares the functions the code may call, and whose `execute` runs the
 * code in the broker's sandbox. `ai` is an optional peer dependency: only this entry imports it.
 */
import { tool, type Tool, type ToolSet } from 'ai';
import { z } from 'zod';
import type { EnclaveBroker } from '../broker.js';
import type { EnclaveClient } from '../client/client.js';
import { permissionMatcher } from '../tools/permissions.js';
import { renderDocumentation, type DocumentationStyle } from '../tools/documentation.js';
import type { ToolDefinition } from '../tools/types.js';
import { aiToolsForCode } from './ai-tools.js';
import { assertClientToolsReach, runOnTarget, type CodeTarget, type RunOutput, type RunSettings } from './runner.js';

import { CodeExecutionError } from './errors.js';

export { CodeExecutionError, isCodeExecutionError } from './errors.js';
export type { RunOutput, RunSettings } from './runner.js';

/** The placeholder of `description` that the declarations replace. */
export const DECLARATIONS_PLACEHOLDER = '{{declarations}}';

export const DEFAULT_DESCRIPTION = `Run JavaScript in a sandbox to get things done with the functions declared below.
The code is the body of an async function: use \`await\`, call several functions in one run, and \`return\` the answer (it must be JSON: objects, arrays, strings, numbers, booleans, null).
\`console.log\` output comes back in \`logs\`. Write plain JavaScript, not TypeScript. There is no fetch, require, import, file system or network: only the functions below.
A failed call rejects with an Error whose \`code\` says why; catch it to recover, or let it fail the run.

${DECLARATIONS_PLACEHOLDER}`;

export type CreateCodeToolOptions = (
  | {
      /** Run the code on this broker, in this process. */
      broker: EnclaveBroker;
      client?: undefined;
    }
  | {
      /** Run the code on a broker over HTTP. */
      client: EnclaveClient;
      broker?: undefined;
    }
) &
  RunSettings & {
    /**
     * AI SDK tools the code may call, answered in this process by their own `execute`. Their
     * `inputSchema` (zod or JSON Schema) checks the arguments and becomes their declaration.
     */
    tools?: ToolSet;
    /**
     * The tool's description. `{{declarations}}` (or codemode's `{{types}}`) is replaced by
     * the declarations of the functions the code may call; without either they are appended.
     */
    description?: string;
    /**
     * Declarations of the remote broker's server tools (over HTTP the client cannot list
     * them: pass what `registry.getDocumentation()` gives there). A local broker's are read
     * from it, filtered by `identity.permissions`.
     */
    declarations?: string;
    /**
     * How server tools are declared: `callTool` (`callTool("users:list", args)`, the default)
     * or `namespace` (`tools.users.list(args)`). AI SDK tools are always declared for `callTool`.
     */
    style?: DocumentationStyle;
  };

export type CodeToolInput = { code: string };
export type CodeToolOutput = Pick<RunOutput, 'result' | 'logs' | 'stats'>;

const inputSchema = z.object({
  code: z.string().describe('JavaScript: the body of an async function; `return` the result'),
});

/**
 * An AI SDK tool that runs the model's code in the sandbox. It resolves to
 * `{ result, logs, stats }` and throws a {@link CodeExecutionError} when the code fails (the
 * AI SDK hands the error's message to the model as the tool's error output). Aborting the
 * generation (`abortSignal`) cancels the run.
 */
export function createCodeTool(options: CreateCodeToolOptions): Tool<CodeToolInput, CodeToolOutput> {
  if (!options || (!options.broker && !options.client)) throw new TypeError('createCodeTool: pass a broker or a client');
  const target = (options.broker ? { broker: options.broker } : { client: options.client }) as CodeTarget;
  const { handlers, definitions } = aiToolsForCode(options.tools);
  const settings: RunSettings = {
    ...(options.context !== undefined ? { context: options.context } : {}),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.maxToolCalls !== undefined ? { maxToolCalls: options.maxToolCalls } : {}),
    ...(options.limits !== undefined ? { limits: options.limits } : {}),
    ...(options.identity !== undefined ? { identity: options.identity } : {}),
  };
  if (options.broker && Object.keys(handlers).length > 0) assertClientToolsReach(options.broker, Object.keys(handlers), 'createCodeTool');
  const codeTool: Tool<CodeToolInput, CodeToolOutput> = tool({
    description: '',
    inputSchema,
    execute: async ({ code }, { abortSignal }): Promise<CodeToolOutput> => {
      try {
        const out = await runOnTarget(target, code, { ...settings, tools: handlers, ...(abortSignal ? { signal: abortSignal } : {}) });
        return { result: out.result, logs: out.logs, stats: out.stats };
      } catch (err) {
        throw err instanceof CodeExecutionError ? forTheModel(err) : err;
      }
    },
  });
  // Read on every step: OpenAPI actions a broker loads later are declared once they exist.
  // Made again only when the broker's registry changed.
  let cached: { revision: number | undefined; text: string } | undefined;
  Object.defineProperty(codeTool, 'description', {
    get: () => {
      const revision = options.broker?.tools?.revision;
      if (!cached || cached.revision !== revision) cached = { revision, text: describe(options, definitions) };
      return cached.text;
    },
    enumerable: true,
    configurable: true,
  });
  return codeTool;
}

/**
 * The AI SDK gives the model the error's message only: it says the code and carries the
 * console output, as the model needs both to fix its code.
 */
function forTheModel(err: CodeExecutionError): CodeExecutionError {
  const logs = err.logs.length > 0 ? `\n\nConsole output:\n${err.logs.join('\n')}` : '';
  return new CodeExecutionError(err.code, `${err.code}: ${err.message}${logs}`, {
    details: err.details,
    ...(err.sessionId ? { sessionId: err.sessionId } : {}),
    logs: err.logs,
    ...(err.stats ? { stats: err.stats } : {}),
    cause: err.cause,
  });
}

/** The declarations the description embeds: the broker's server tools, then the AI SDK tools. */
export function codeToolDeclarations(options: CreateCodeToolOptions): string {
  return declarations(options, aiToolsForCode(options.tools).definitions);
}

function describe(options: CreateCodeToolOptions, definitions: ToolDefinition[]): string {
  const text = options.description ?? DEFAULT_DESCRIPTION;
  const decl = declarations(options, definitions);
  if (text.includes(DECLARATIONS_PLACEHOLDER)) return text.split(DECLARATIONS_PLACEHOLDER).join(decl);
  if (text.includes('{{types}}')) return text.split('{{types}}').join(decl);
  return `${text}\n\n${decl}`;
}

function declarations(options: CreateCodeToolOptions, definitions: ToolDefinition[]): string {
  const parts: string[] = [];
  if (options.broker) {
    const allow = permissionMatcher(options.identity?.permissions);
    const server = (options.broker.tools?.list() ?? []).filter((t) => allow(t.name));
    if (server.length > 0) parts.push(renderDocumentation(server, { style: options.style ?? 'callTool' }));
  } else if (options.declarations) {
    parts.push(options.declarations);
  }
  if (definitions.length > 0) parts.push(renderDocumentation(definitions, { style: 'callTool' }));
  return parts.join('\n') || '// No functions are available: the code can only compute.\n';
}
