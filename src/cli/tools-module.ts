import { ToolRegistry } from '../tools/registry.js';
import type { ToolDefinition } from '../tools/types.js';

/** A tools module that cannot be used: printed as one line, exit status 1. */
export class ToolsModuleError extends Error {
  override readonly name = 'ToolsModuleError';
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

function isToolDefinition(v: unknown): v is ToolDefinition {
  return isRecord(v) && typeof v.name === 'string' && typeof v.handler === 'function';
}

/** A `ToolRegistry`, even one from another copy of the package. */
function isRegistry(v: unknown): v is Pick<ToolRegistry, 'list'> {
  return v instanceof ToolRegistry || (isRecord(v) && typeof v.list === 'function' && typeof v.register === 'function');
}

/** The tools of one export: a definition, an array of them, or a registry; none otherwise. */
function toolsOf(value: unknown): ToolDefinition[] {
  if (isToolDefinition(value)) return [value];
  if (Array.isArray(value) && value.length > 0 && value.every(isToolDefinition)) return value;
  if (isRegistry(value)) return value.list();
  return [];
}

/**
 * The tools a module exports: its default export (a definition, an array, a registry, or a
 * function returning one of those) and its named exports that are definitions, arrays of them
 * or registries. Duplicate names and a module without tools are errors.
 */
export async function toolsFromModule(mod: Record<string, unknown>, into = new ToolRegistry()): Promise<ToolRegistry> {
  let found = 0;
  for (const [key, raw] of Object.entries(mod)) {
    let value = raw;
    if (key === 'default' && typeof value === 'function') {
      try {
        value = await (value as () => unknown)();
      } catch (err) {
        throw new ToolsModuleError(`its default export threw: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    for (const tool of toolsOf(value)) {
      try {
        into.register(tool);
      } catch (err) {
        throw new ToolsModuleError((err as Error).message);
      }
      found++;
    }
  }
  if (found === 0) {
    throw new ToolsModuleError('it exports no tools (export tool definitions, arrays of them, or a ToolRegistry)');
  }
  return into;
}
