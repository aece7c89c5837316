/**
 * A fast yes for the common JSON Schemas of tool arguments and results: objects of typed
 * properties, `required`, `additionalProperties: false`, arrays of such, enums of scalars,
 * numeric bounds. `simpleCheck(schema)` answers a function that returns true only for a value
 * the schema certainly accepts; it answers undefined for a schema using anything else.
 * A false means "not sure": the full validator (@cfworker/json-schema) decides and words the
 * problems. The full validator builds a JSON pointer for every property it visits, so a check
 * of even a small object allocates a few kB; this one allocates nothing.
 */

export type SimpleCheck = (value: unknown) => boolean;

type TypeName = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'object' | 'array';

const TYPES = new Set<string>(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);

/** Keywords that never change what is valid (in 2020-12 and draft-07 alike). */
const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly', '$comment']);

/** Every keyword understood here; a schema with any other one is not simple. */
const KEYWORDS = new Set([
  ...ANNOTATIONS,
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minItems',
  'maxItems',
]);

/** Deeper schemas than this are left to the full validator. */
const MAX_DEPTH = 8;

/** A check for `schema` when it is simple (see above), else undefined. */
export function simpleCheck(schema: unknown): SimpleCheck | undefined {
  if (!isPlainObject(schema)) return undefined;
  // `$schema` only names the dialect; the keywords above mean the same in draft-07 and 2020-12.
  const { $schema, ...rest } = schema;
  if ($schema !== undefined && typeof $schema !== 'string') return undefined;
  return compile(rest, 0);
}

function compile(schema: unknown, depth: number): SimpleCheck | undefined {
  if (depth > MAX_DEPTH || !isPlainObject(schema)) return undefined;
  for (const key of Object.keys(schema)) if (!KEYWORDS.has(key)) return undefined;
  const checks: SimpleCheck[] = [];

  const type = schema.type;
  if (type !== undefined) {
    const names = Array.isArray(type) ? type : [type];
    if (names.length === 0 || !names.every((n) => typeof n === 'string' && TYPES.has(n))) return undefined;
    const allowed = names as TypeName[];
    checks.push(allowed.length === 1 ? typeCheck(allowed[0]!) : (v) => allowed.some((n) => hasType(v, n)));
  }

  if (schema.enum !== undefined) {
    const values = schema.enum;
    if (!Array.isArray(values) || !values.every(isScalar)) return undefined;
    checks.push((v) => isScalar(v) && values.includes(v));
  }

  for (const [keyword, compare] of BOUNDS) {
    const bound = schema[keyword];
    if (bound === undefined) continue;
    if (typeof bound !== 'number' || !Number.isFinite(bound)) return undefined;
    checks.push((v) => typeof v !== 'number' || compare(v, bound));
  }
  for (const keyword of ['minItems', 'maxItems'] as const) {
    const bound = schema[keyword];
    if (bound === undefined) continue;
    if (typeof bound !== 'number' || !Number.isInteger(bound) || bound < 0) return undefined;
    const min = keyword === 'minItems';
    checks.push((v) => !Array.isArray(v) || (min ? v.length >= bound : v.length <= bound));
  }

  if (schema.items !== undefined) {
    const item = compile(schema.items, depth + 1);
    if (!item) return undefined;
    checks.push((v) => !Array.isArray(v) || v.every((x) => item(x)));
  }

  const object = compileObject(schema, depth);
  if (object === undefined) return undefined;
  if (object) checks.push(object);

  if (checks.length === 0) return isJsonValue;
  if (checks.length === 1) return checks[0];
  return (v) => {
    for (const check of checks) if (!check(v)) return false;
    return true;
  };
}

/** `properties`, `required`, `additionalProperties`; null when the schema has none of them. */
function compileObject(schema: Record<string, unknown>, depth: number): SimpleCheck | null | undefined {
  const { properties, required, additionalProperties } = schema;
  if (properties === undefined && required === undefined && additionalProperties === undefined) return null;
  if (properties !== undefined && !isPlainObject(properties)) return undefined;
  if (required !== undefined && (!Array.isArray(required) || !required.every((k) => typeof k === 'string'))) return undefined;
  if (additionalProperties !== undefined && typeof additionalProperties !== 'boolean') return undefined;
  const props: Array<[string, SimpleCheck]> = [];
  for (const key of Object.keys(properties ?? {})) {
    const check = compile((properties as Record<string, unknown>)[key], depth + 1);
    if (!check) return undefined;
    props.push([key, check]);
  }
  const needed = (required ?? []) as string[];
  const closed = additionalProperties === false;
  const known = new Set(props.map(([key]) => key));
  return (v) => {
    if (!isPlainObject(v)) return !isObjectLike(v) && isJsonValue(v);
    for (const key of needed) if (!Object.hasOwn(v, key) || v[key] === undefined) return false;
    for (const [key, check] of props) if (Object.hasOwn(v, key) && !check(v[key])) return false;
    if (closed) for (const key of Object.keys(v)) if (!known.has(key)) return false;
    return true;
  };
}

const BOUNDS: ReadonlyArray<readonly ['minimum' | 'maximum' | 'exclusiveMinimum' | 'exclusiveMaximum', (v: number, b: number) => boolean]> = [
  ['minimum', (v, b) => v >= b],
  ['maximum', (v, b) => v <= b],
  ['exclusiveMinimum', (v, b) => v > b],
  ['exclusiveMaximum', (v, b) => v < b],
];

function typeCheck(name: TypeName): SimpleCheck {
  return (v) => hasType(v, name);
}

function hasType(v: unknown, name: TypeName): boolean {
  switch (name) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    case 'object':
      return isPlainObject(v);
    case 'array':
      return Array.isArray(v);
  }
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/** A value JSON can hold at this level (its insides are checked where the schema looks). */
function isJsonValue(v: unknown): boolean {
  return isScalar(v) || Array.isArray(v) || isPlainObject(v);
}

function isObjectLike(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
