import { namespacePlan } from './namespace.js';
import { jsDoc, propertyKey, refDescription, schemaToTs } from './json-schema-ts.js';
import type { ParameterDef, ToolDefinition } from './types.js';

/**
 * How `getDocumentation()` declares the tools: `callTool` (one `callTool` overload a tool)
 * or `namespace` (the guest's `tools` object: `declare const tools: { users: { list(…) } }`).
 */
export type DocumentationStyle = 'callTool' | 'namespace';

export interface DocumentationOptions {
  /** Keep only the tools a caller may call. */
  allow?: (name: string) => boolean;
  style?: DocumentationStyle;
}

const TS_TYPES: Record<ParameterDef['type'], string> = {
  string: 'string',
  number: 'number',
  boolean: 'boolean',
  object: 'Record<string, unknown>',
  array: 'unknown[]',
};

const comment = jsDoc;

function argsType(tool: ToolDefinition): string {
  if (tool.inputSchema) {
    const schema = tool.inputSchema as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
    const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
    const lines = Object.entries(props).map(([name, prop]) => {
      const description = prop.description ?? (typeof prop.$ref === 'string' ? refDescription(schema, prop.$ref) : undefined);
      const doc = typeof description === 'string' ? comment(description, '  ') : '';
      return `${doc}  ${propertyKey(name)}${required.has(name) ? '' : '?'}: ${schemaToTs(prop, { root: schema, indent: '  ' })};`;
    });
    return lines.length ? `{\n${lines.join('\n')}\n}` : 'Record<string, never>';
  }
  const entries = Object.entries(tool.parameters);
  if (entries.length === 0) return 'Record<string, never>';
  const lines = entries.map(([name, def]) => {
    const optional = !def.required || def.default !== undefined;
    const note = def.default !== undefined ? `(default: ${JSON.stringify(def.default)})` : '';
    const text = [typeof def.description === 'string' ? def.description : '', note].filter(Boolean).join(' ');
    return `${text ? comment(text, '  ') : ''}  ${propertyKey(name)}${optional ? '?' : ''}: ${TS_TYPES[def.type]};`;
  });
  return `{\n${lines.join('\n')}\n}`;
}

/** Whether a call may leave out the arguments (`tools.ping()`): nothing in them is required. */
function argsOptional(tool: ToolDefinition): boolean {
  if (tool.inputSchema) {
    const required = (tool.inputSchema as { required?: unknown }).required;
    return !Array.isArray(required) || required.length === 0;
  }
  return Object.values(tool.parameters).every((def) => !def.required || def.default !== undefined);
}

/** The type a call resolves to: from the tool's `outputSchema`, else `unknown`. */
function resultType(tool: ToolDefinition, pad = ''): string {
  return tool.outputSchema ? schemaToTs(tool.outputSchema, { indent: pad }) : 'unknown';
}

function indent(text: string, by: string): string {
  return text.split('\n').join(`\n${by}`);
}

function callToolDeclarations(tools: readonly ToolDefinition[]): string {
  let out = '';
  for (const tool of tools) {
    out += `\n${comment(tool.description || tool.name, '')}`;
    out += `declare function callTool(name: ${JSON.stringify(tool.name)}, args: ${argsType(tool)}): Promise<${resultType(tool)}>;\n`;
  }
  return out;
}

/** TypeScript declarations of the tools, ready to paste into an LLM prompt. */
export function renderDocumentation(tools: readonly ToolDefinition[], options: DocumentationOptions = {}): string {
  const list = options.allow ? tools.filter((t) => options.allow!(t.name)) : tools;
  if (options.style === 'namespace') return namespaceDocumentation(list);
  const example = list[0]?.name ?? 'tool:name';
  return (
    '// Tools available to your code. Call them with `await callTool(name, args)`, e.g.\n' +
    `// const result = await callTool(${JSON.stringify(example)}, { /* args */ });\n` +
    '// A failed call rejects with an Error whose `code` says why (TOOL_ARGS_INVALID, TOOL_ERROR, …).\n' +
    callToolDeclarations(list)
  );
}

function namespaceDocumentation(tools: readonly ToolDefinition[]): string {
  const { entries, unplaced } = namespacePlan(tools);
  const first = entries[0];
  const example = first ? `tools.${first.namespace ? `${first.namespace}.` : ''}${first.member}` : 'tools.users.list';
  let out =
    '// Tools available to your code, as async functions of the `tools` object, e.g.\n' +
    `// const result = await ${example}({ /* args */ });\n` +
    '// A failed call rejects with an Error whose `code` says why (TOOL_ARGS_INVALID, TOOL_ERROR, …).\n' +
    '\ndeclare const tools: {\n';
  const groups = new Map<string, typeof entries>();
  for (const entry of entries) {
    const group = groups.get(entry.namespace) ?? [];
    group.push(entry);
    groups.set(entry.namespace, group);
  }
  const member = (entry: (typeof entries)[number], pad: string) =>
    comment(entry.tool.description || entry.tool.name, pad) +
    `${pad}${entry.member}(args${argsOptional(entry.tool) ? '?' : ''}: ${indent(argsType(entry.tool), pad)}): Promise<${resultType(entry.tool, pad)}>;\n`;
  for (const entry of groups.get('') ?? []) out += member(entry, '  ');
  for (const [namespace, group] of groups) {
    if (namespace === '') continue;
    out += `  ${namespace}: {\n`;
    for (const entry of group) out += member(entry, '    ');
    out += '  };\n';
  }
  out += '};\n';
  if (unplaced.length > 0) {
    out += `\n// These are called with \`await callTool(name, args)\`:\n${callToolDeclarations(unplaced)}`;
  }
  return out;
}
