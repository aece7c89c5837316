/** OpenAPI schema objects → JSON Schema (draft 2020-12), the dialect of `inputSchema`. */

type JsonObject = Record<string, unknown>;

/** Keywords of OpenAPI 3.0 schema objects that JSON Schema does not know. */
const OAS30_ONLY = ['nullable', 'discriminator', 'xml', 'externalDocs', 'example'];

/**
 * Rewrites one OpenAPI 3.0 schema object (children already converted): `nullable: true`
 * adds `null` to `type`/`enum`, boolean `exclusiveMinimum`/`exclusiveMaximum` become numbers.
 */
export function convertOas30Schema(schema: JsonObject): JsonObject {
  const out: JsonObject = { ...schema };
  if (out.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    else if (Array.isArray(out.type) && !out.type.includes('null')) out.type = [...out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  for (const [flag, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (typeof out[flag] !== 'boolean') continue;
    if (out[flag] === true && typeof out[bound] === 'number') {
      out[flag] = out[bound];
      delete out[bound];
    } else {
      delete out[flag];
    }
  }
  for (const key of OAS30_ONLY) {
    if (key === 'example' && out.example !== undefined && out.examples === undefined) out.examples = [out.example];
    delete out[key];
  }
  return out;
}

/** Drops keywords that only matter to OpenAPI (3.1 schemas are JSON Schema already). */
export function convertOas31Schema(schema: JsonObject): JsonObject {
  if (!('discriminator' in schema) && !('xml' in schema)) return schema;
  const { discriminator: _d, xml: _x, ...rest } = schema;
  return rest;
}
