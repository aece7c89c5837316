/** Spec text (JSON or YAML) → an OpenAPI 3.x document object. */
import type { YamlParser } from './yaml.js';

export type OpenApiDocument = Record<string, unknown> & { openapi: string };

/** True when the text is JSON (an object), which needs no YAML parser. */
export function isJsonSpec(text: string): boolean {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('{')) return false;
  try {
    JSON.parse(trimmed);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses JSON or YAML text; JSON is tried first when the text looks like it. YAML needs
 * `parseYaml` (see yaml.ts).
 */
export function parseSpecText(text: string, parseYaml?: YamlParser): unknown {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      return JSON.parse(trimmed);
    } catch {
      // Not strict JSON: YAML (a superset of JSON) may still read it.
    }
  }
  if (!parseYaml) {
    throw new Error('the spec is not JSON, and no YAML parser is available (on Workers, give openapi.parseYaml, or serve the spec as JSON)');
  }
  return parseYaml(text);
}

/** Checks that `value` is an OpenAPI 3.0 or 3.1 document. */
export function asOpenApiDocument(value: unknown): OpenApiDocument {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('the spec is not an object');
  }
  const doc = value as Record<string, unknown>;
  if (typeof doc.openapi !== 'string') {
    if (typeof doc.swagger === 'string') throw new Error('Swagger 2.0 specs are not supported; use OpenAPI 3.0 or 3.1');
    throw new Error('the spec has no "openapi" version field');
  }
  if (!/^3\.[01](\.|$)/.test(doc.openapi)) throw new Error(`unsupported OpenAPI version ${doc.openapi}`);
  return doc as OpenApiDocument;
}

/** Parses a spec given as text or object. */
export function loadSpec(spec: string | Record<string, unknown>, parseYaml?: YamlParser): OpenApiDocument {
  return asOpenApiDocument(typeof spec === 'string' ? parseSpecText(spec, parseYaml) : spec);
}

export function isOas30(doc: OpenApiDocument): boolean {
  return doc.openapi.startsWith('3.0');
}
