import { renderDocumentation, type DocumentationOptions } from './documentation.js';
import type { ToolDefinition } from './types.js';

const TOOL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:\-/]{0,127}$/;
/** Longest `approvalTimeoutMs` (a timer cannot wait longer). */
const MAX_APPROVAL_TIMEOUT_MS = 2_147_483_647;
const PARAMETER_TYPES = new Set(['string', 'number', 'boolean', 'object', 'array']);

/** The reference's tool registry: server-side tools the sandboxed code can call. */
export class ToolRegistry {
  private readonly tools = new Map<string, ToolDefinition>();
  private changes = 0;

  /** Counts registrations and removals: what was derived from `list()` is stale once it moves. */
  get revision(): number {
    return this.changes;
  }

  register(tool: ToolDefinition): void {
    if (!tool || typeof tool.name !== 'string' || !TOOL_NAME.test(tool.name)) {
      throw new TypeError(`invalid tool name ${JSON.stringify(tool?.name)}: use 1-128 characters of letters, digits and _ . : - /`);
    }
    if (this.tools.has(tool.name)) throw new Error(`a tool named ${JSON.stringify(tool.name)} is already registered`);
    if (typeof tool.handler !== 'function') throw new TypeError(`tool ${tool.name}: handler must be a function`);
    if (tool.needsApproval !== undefined && typeof tool.needsApproval !== 'boolean' && typeof tool.needsApproval !== 'function') {
      throw new TypeError(`tool ${tool.name}: needsApproval must be a boolean or a function`);
    }
    const wait = tool.approvalTimeoutMs;
    if (wait !== undefined && (typeof wait !== 'number' || !Number.isFinite(wait) || wait <= 0 || wait > MAX_APPROVAL_TIMEOUT_MS)) {
      throw new TypeError(`tool ${tool.name}: approvalTimeoutMs must be a positive number of ms, at most ${MAX_APPROVAL_TIMEOUT_MS}`);
    }
    const parameters = tool.parameters ?? {};
    for (const [name, def] of Object.entries(parameters)) {
      if (!def || !PARAMETER_TYPES.has(def.type)) {
        throw new TypeError(`tool ${tool.name}: parameter ${name} has an invalid type ${JSON.stringify(def?.type)}`);
      }
    }
    this.tools.set(tool.name, { ...tool, parameters, description: tool.description ?? '' });
    this.changes++;
  }

  /** Removes a tool; true when it existed. */
  unregister(name: string): boolean {
    const removed = this.tools.delete(name);
    if (removed) this.changes++;
    return removed;
  }

  get(name: string): ToolDefinition | undefined {
    return this.tools.get(name);
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  list(): ToolDefinition[] {
    return [...this.tools.values()];
  }

  /**
   * TypeScript declarations of every tool for an LLM prompt; `allow` keeps only the tools a
   * caller may call. `{ style: 'namespace' }` declares them as the guest's `tools` object
   * (`tools.users.list(args)`) instead of `callTool` overloads.
   */
  getDocumentation(allow?: ((name: string) => boolean) | DocumentationOptions, options: DocumentationOptions = {}): string {
    const given = typeof allow === 'function' ? { ...options, allow } : { ...options, ...allow };
    return renderDocumentation(this.list(), given);
  }
}
