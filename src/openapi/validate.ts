/** Argument validation of actions against their `inputSchema` (no code generation: runs on Workers). */
import { Validator, type OutputUnit } from '@cfworker/json-schema';
import { simpleCheck } from './simple-schema.js';

export interface ArgsCheck {
  args: Record<string, unknown>;
  problems: string[];
}

/** Keywords that only say "something below failed"; their children carry the real message. */
const WRAPPERS = new Set(['properties', 'items', 'prefixItems', 'additionalProperties', 'allOf', '$ref', 'unevaluatedProperties', 'dependentSchemas']);

function where(unit: OutputUnit): string {
  const path = unit.instanceLocation
    .replace(/^#\/?/, '')
    .split('/')
    .filter(Boolean)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return path.length ? path.join('.') : 'arguments';
}

/** Turns validator output into short messages: `petId: Instance type "string" is invalid. Expected "integer".` */
export function formatProblems(errors: OutputUnit[]): string[] {
  const leaves = errors.filter((e) => !WRAPPERS.has(e.keyword));
  const chosen = leaves.length ? leaves : errors;
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of chosen) {
    const message =
      e.keyword === 'required' ? e.error.replace(/^Instance does not have required property "(.*)"\.$/, '$1 is required') : `${where(e)}: ${e.error}`;
    if (!seen.has(message)) {
      seen.add(message);
      out.push(message);
    }
  }
  return out;
}

/**
 * A `validateArgs` for a JSON Schema object: checks the arguments and fills top-level
 * defaults. Returns the arguments (a copy when defaults were added) and the problems found.
 * Arguments a simple schema certainly accepts skip the full validator (simple-schema.ts).
 */
export function createArgsValidator(schema: Record<string, unknown>): (input: Record<string, unknown>) => ArgsCheck {
  const validator = new Validator(schema as never, '2020-12', false);
  const fast = simpleCheck(schema);
  const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const defaults = Object.entries(properties).filter(([, s]) => s && typeof s === 'object' && s.default !== undefined);
  return (input) => {
    let args = input;
    for (const [name, s] of defaults) {
      if (args[name] === undefined) {
        if (args === input) args = { ...input };
        args[name] = structuredClone(s.default);
      }
    }
    if (fast?.(args)) return { args, problems: [] };
    const result = validator.validate(args);
    return { args, problems: result.valid ? [] : formatProblems(result.errors) };
  };
}
