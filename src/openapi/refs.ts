/**
 * Resolution of local `$ref`s (`#/...`) inside one OpenAPI document.
 *
 * Schemas are dereferenced into self-contained JSON Schemas: a reference that points back
 * into itself (a recursive schema such as a tree node) becomes `{ "$ref": "#/$defs/Name" }`
 * and its definition is added to the root's `$defs`, so cycles never recurse forever.
 * References to other documents are not fetched: they become `{}` (anything).
 */

type Json = unknown;
type JsonObject = Record<string, unknown>;

const MAX_CHAIN = 32;
/** Keywords whose values are data, not schemas: copied without looking for `$ref`s. */
const DATA_KEYWORDS = new Set(['default', 'example', 'examples', 'enum', 'const']);

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value a local JSON pointer (`#/components/schemas/Pet`) names in `doc`. */
export function resolvePointer(doc: Json, ref: string): Json {
  if (!ref.startsWith('#')) throw new Error(`only local $refs are supported, got ${JSON.stringify(ref)}`);
  const pointer = decodeURIComponent(ref.slice(1));
  if (pointer === '') return doc;
  if (!pointer.startsWith('/')) throw new Error(`invalid $ref ${JSON.stringify(ref)}`);
  let node: Json = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObject(node) && Object.hasOwn(node, key)) node = node[key];
    else node = undefined;
    if (node === undefined) throw new Error(`$ref ${JSON.stringify(ref)} points to nothing`);
  }
  return node;
}

/**
 * Follows a chain of `$ref`s for a non-schema object (parameter, request body, path item).
 * Sibling fields of a `$ref` override the target's (OpenAPI 3.1 allows `summary`/`description`).
 */
export function followRef<T = JsonObject>(doc: Json, value: unknown): T {
  let node = value;
  const seen = new Set<string>();
  let overrides: JsonObject = {};
  while (isObject(node) && typeof node.$ref === 'string') {
    const ref = node.$ref;
    if (seen.has(ref) || seen.size >= MAX_CHAIN) throw new Error(`$ref cycle at ${JSON.stringify(ref)}`);
    seen.add(ref);
    const { $ref: _ignored, ...siblings } = node;
    overrides = { ...siblings, ...overrides };
    node = resolvePointer(doc, ref);
  }
  if (!isObject(node)) return node as T;
  return (Object.keys(overrides).length ? { ...node, ...overrides } : node) as T;
}

interface Resolved {
  value: Json;
  /** Refs of cyclic targets this value points to through `#/$defs/...`. */
  uses: Set<string>;
}

/** Dereferences schemas of one document; shares work between the operations of that document. */
export class SchemaDereferencer {
  private readonly cache = new Map<string, Resolved>();
  private readonly defNames = new Map<string, string>();
  private readonly usedNames = new Set<string>();

  constructor(
    private readonly doc: Json,
    /** Applied to every schema object after its children are resolved (e.g. OpenAPI 3.0 → JSON Schema). */
    private readonly convert: (schema: JsonObject) => JsonObject = (s) => s,
  ) {}

  /**
   * A copy of `schema` with local refs inlined; cyclic targets are returned in `defs` (keyed
   * by name) and referenced as `#/$defs/<name>`, so the caller puts `defs` at its root's `$defs`.
   */
  deref(schema: Json): { schema: Json; defs: JsonObject } {
    const uses = new Set<string>();
    const value = this.walk(schema, [], uses);
    const defs: JsonObject = {};
    if (uses.size === 0) return { schema: value, defs };
    // Close over the definitions the used definitions need themselves.
    const all = new Set<string>();
    const queue = [...uses];
    while (queue.length) {
      const ref = queue.pop()!;
      if (all.has(ref)) continue;
      all.add(ref);
      for (const next of this.cache.get(ref)?.uses ?? []) queue.push(next);
    }
    for (const ref of [...all].sort()) defs[this.defName(ref)] = this.cache.get(ref)?.value ?? {};
    return { schema: value, defs };
  }

  private defName(ref: string): string {
    let name = this.defNames.get(ref);
    if (name) return name;
    const base =
      (ref.split('/').pop() ?? 'def')
        .replace(/~1/g, '_')
        .replace(/~0/g, '_')
        .replace(/[^A-Za-z0-9_.-]/g, '_') || 'def';
    name = base;
    for (let i = 2; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    this.defNames.set(ref, name);
    return name;
  }

  private walk(node: Json, stack: string[], uses: Set<string>): Json {
    if (Array.isArray(node)) return node.map((item) => this.walk(item, stack, uses));
    if (!isObject(node)) return node;
    if (typeof node.$ref === 'string') return this.walkRef(node, stack, uses);
    const out: JsonObject = {};
    for (const [key, child] of Object.entries(node)) {
      out[key] = DATA_KEYWORDS.has(key) ? child : this.walk(child, stack, uses);
    }
    return this.convert(out);
  }

  private walkRef(node: JsonObject, stack: string[], uses: Set<string>): Json {
    const { $ref, ...rest } = node;
    const ref = $ref as string;
    const siblings = Object.keys(rest).length ? (this.walk(rest, stack, uses) as JsonObject) : undefined;
    if (!ref.startsWith('#')) return siblings ?? {};
    if (stack.includes(ref) || stack.length >= 64) {
      uses.add(ref);
      return { $ref: `#/$defs/${this.defName(ref)}`, ...siblings };
    }
    let resolved = this.cache.get(ref);
    if (!resolved) {
      const inner = new Set<string>();
      const value = this.walk(resolvePointer(this.doc, ref), [...stack, ref], inner);
      resolved = { value, uses: inner };
      this.cache.set(ref, resolved);
    }
    for (const used of resolved.uses) uses.add(used);
    if (!siblings) return resolved.value;
    return isObject(resolved.value) ? { ...resolved.value, ...siblings } : resolved.value;
  }
}
