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

/** What a server-side tool handler learns about the call it serves. */
export interface ExecutionContext extends CallerIdentity {
  sessionId: string;
  /** Stable for this call: usable as an idempotency key. */
  callId: string;
  toolName: string;
  /** Fires when the session is cancelled, times out or ends. */
  signal: AbortSignal;
  /** The request's `context` object. */
  context: Readonly<Record<string, unknown>>;
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
  /** Checks and normalises arguments instead of `parameters`; returns the problems found. */
  validateArgs?: (args: Record<string, unknown>) => { args: Record<string, unknown>; problems: string[] };
  /** Where the tool comes from, e.g. an OpenAPI service name. */
  source?: string;
}
