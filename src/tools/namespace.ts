import type { ToolDefinition } from './types.js';

/**
 * Where each tool sits in the guest's `tools` object (`tools.users.list(args)` for
 * `users:list`). The mapping, documented in docs/tools.md:
 *
 * - An OpenAPI action (`source` set, named `<service>_<operation>`) sits at
 *   `tools.<service>.<operation>`; any other name with a `:` at
 *   `tools.<before the first ':'>.<the rest>`; a name without one at `tools.<name>`.
 * - Each part becomes an identifier: every run of characters other than letters, digits,
 *   `_` and `$` becomes one `_`, and a part that starts with a digit gets a leading `_`
 *   (`pet-store:get.pet` → `tools.pet_store.get_pet`, `2fa:check` → `tools._2fa.check`).
 * - Two tools that map to the same place: the first registered keeps it. A function whose
 *   name is also a namespace's: the namespace keeps it. A tool that lost its place is
 *   still called with `callTool(name, args)`, and is declared that way.
 */
export interface NamespaceEntry {
  /** The namespace (`''`: a function directly on `tools`). */
  namespace: string;
  member: string;
  tool: ToolDefinition;
}

export interface NamespacePlan {
  /** Tools reachable through `tools`, in catalog order. */
  entries: NamespaceEntry[];
  /** Tools only `callTool` reaches (their place was taken). */
  unplaced: ToolDefinition[];
}

/** A tool name part as an identifier (see above); `''` when nothing of it is left. */
export function identifierFor(part: string): string {
  const id = part.replace(/[^A-Za-z0-9_$]+/g, '_');
  return /^[0-9]/.test(id) ? `_${id}` : id;
}

function placeOf(tool: ToolDefinition): [string, string] {
  const { name, source } = tool;
  if (source && name.startsWith(`${source}_`) && name.length > source.length + 1) {
    return [identifierFor(source), identifierFor(name.slice(source.length + 1))];
  }
  const colon = name.indexOf(':');
  if (colon > 0 && colon < name.length - 1) return [identifierFor(name.slice(0, colon)), identifierFor(name.slice(colon + 1))];
  return ['', identifierFor(name)];
}

/** Places the tools in the `tools` object (see the mapping above). */
export function namespacePlan(tools: readonly ToolDefinition[]): NamespacePlan {
  const placed = tools.map((tool) => ({ tool, place: placeOf(tool) }));
  const namespaces = new Set(placed.filter((p) => p.place[0] !== '').map((p) => p.place[0]));
  const taken = new Set<string>();
  const entries: NamespaceEntry[] = [];
  const unplaced: ToolDefinition[] = [];
  for (const { tool, place } of placed) {
    const [namespace, member] = place;
    const key = `${namespace}\u0000${member}`;
    if (!member || taken.has(key) || (namespace === '' && namespaces.has(member))) {
      unplaced.push(tool);
      continue;
    }
    taken.add(key);
    entries.push({ namespace, member, tool });
  }
  return { entries, unplaced };
}

/**
 * The plan as the sandbox takes it (`SandboxSpec.toolNamespace`): JSON of
 * `[namespace, [[member, toolName], …]]` groups, the functions on `tools` itself under `''`.
 */
export function namespacePlanJson(tools: readonly ToolDefinition[]): string {
  const groups = new Map<string, [string, string][]>();
  for (const e of namespacePlan(tools).entries) {
    const group = groups.get(e.namespace) ?? [];
    group.push([e.member, e.tool.name]);
    groups.set(e.namespace, group);
  }
  return JSON.stringify([...groups]);
}
