import type { ParameterDef, ToolDefinition } from './types.js';

export interface ValidationResult {
  args: Record<string, unknown>;
  problems: string[];
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function matches(def: ParameterDef, value: unknown): boolean {
  switch (def.type) {
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'object':
      return typeOf(value) === 'object';
    default:
      return typeOf(value) === def.type;
  }
}

/**
 * Checks arguments against a tool's `parameters`: required ones present, types right,
 * defaults applied. Undeclared arguments pass through unchanged. The input is never mutated.
 */
export function validateArgs(tool: ToolDefinition, input: Record<string, unknown>): ValidationResult {
  if (tool.validateArgs) return tool.validateArgs(input);
  const declared = Object.keys(tool.parameters);
  if (declared.length === 0) return { args: input, problems: [] };
  const args: Record<string, unknown> = { ...input };
  const problems: string[] = [];
  for (const name of declared) {
    const def = tool.parameters[name]!;
    const present = Object.hasOwn(args, name) && args[name] !== undefined && args[name] !== null;
    if (!present) {
      if (def.default !== undefined) {
        args[name] = structuredClone(def.default);
      } else if (def.required) {
        problems.push(`${name} is required`);
      }
      continue;
    }
    if (!matches(def, args[name])) {
      problems.push(`${name} must be of type ${def.type}, got ${typeOf(args[name])}`);
    }
  }
  return { args, problems };
}
