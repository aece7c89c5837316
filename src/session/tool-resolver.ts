import { namespacePlanJson } from '../tools/namespace.js';
import { permissionMatcher } from '../tools/permissions.js';
import type { ToolRegistry } from '../tools/registry.js';
import type { ToolDefinition, ToolHandler } from '../tools/types.js';

/** Where a tool call goes. */
export type ToolRoute = { kind: 'registry'; tool: ToolDefinition } | { kind: 'handler'; handler: ToolHandler } | { kind: 'client' } | { kind: 'missing' };

export interface ToolResolverOptions {
  tools?: ToolRegistry;
  /** Serves every name the registry does not know (then no call goes to the client). */
  toolHandler?: ToolHandler;
  /** When false, names nobody serves fail at once with TOOL_NOT_FOUND. Default true. */
  clientTools?: boolean;
}

/** Registry first, then the `toolHandler` fallback, then the client. */
export function createToolResolver(options: ToolResolverOptions): (name: string) => ToolRoute {
  const { tools, toolHandler, clientTools = true } = options;
  return (name) => {
    const tool = tools?.get(name);
    if (tool) return { kind: 'registry', tool };
    if (toolHandler) return { kind: 'handler', handler: toolHandler };
    return clientTools ? { kind: 'client' } : { kind: 'missing' };
  };
}

/**
 * The plan of the guest's `tools` object for a caller with `permissions` (only the tools it
 * may call), from the registry; computed once per registry revision and permission set.
 */
export function createToolNamespace(tools: ToolRegistry | undefined): (permissions?: string[]) => string | undefined {
  let revision = -1;
  const plans = new Map<string, string>();
  return (permissions) => {
    if (!tools) return undefined;
    if (tools.revision !== revision) {
      revision = tools.revision;
      plans.clear();
    }
    const key = permissions ? JSON.stringify(permissions) : '*';
    let plan = plans.get(key);
    if (plan === undefined) {
      const allow = permissionMatcher(permissions);
      plan = namespacePlanJson(tools.list().filter((t) => allow(t.name)));
      if (plans.size >= 256) plans.clear();
      plans.set(key, plan);
    }
    return plan;
  };
}
