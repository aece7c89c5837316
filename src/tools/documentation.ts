import { jsDoc, propertyKey, refDescription, schemaToTs } from './json-schema-ts.js';
import type { ParameterDef, ToolDefinition } from './types.js';

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

/** TypeScript declarations of the tools, ready to paste into an LLM prompt. */
export function renderDocumentation(tools: readonly ToolDefinition[]): string {
  const example = tools[0]?.name ?? 'tool:name';
  let out =
    '// Tools available to your code. Call them with `await callTool(name, args)`, e.g.\n' +
    `// const result = await callTool(${JSON.stringify(example)}, { /* args */ });\n` +
    '// A failed call rejects with an Error whose `code` says why (TOOL_ARGS_INVALID, TOOL_ERROR, …).\n';
  for (const tool of tools) {
    out += '\n' + comment(tool.description || tool.name, '');
    const returns = tool.outputSchema ? schemaToTs(tool.outputSchema) : 'unknown';
    out += `declare function callTool(name: ${JSON.stringify(tool.name)}, args: ${argsType(tool)}): Promise<${returns}>;\n`;
  }
  return out;
}
