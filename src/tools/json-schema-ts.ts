/**
 * JSON Schema → a TypeScript type, for `getDocumentation()`: `$ref` (local pointers, inlined;
 * a cycle becomes `unknown`), `anyOf`/`oneOf` (unions), `allOf` (intersections), `enum`,
 * `const`, type lists, OpenAPI's `nullable`, tuples, `additionalProperties` (index
 * signatures), and property descriptions as JSDoc comments.
 */

type Schema = Record<string, unknown>;

/** How deep nested schemas are written before `unknown` stands in for the rest. */
const MAX_DEPTH = 8;

export function jsDoc(text: string, indent: string): string {
  const lines = text.replace(/\*\//g, '*\\/').split('\n');
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

export function propertyKey(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}

function resolvePointer(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!node || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** The description of the schema a local `$ref` points to. */
export function refDescription(root: unknown, ref: string): unknown {
  const target = resolvePointer(root, ref);
  return target && typeof target === 'object' ? (target as Schema).description : undefined;
}

class Writer {
  private readonly refs: string[] = [];

  constructor(private readonly root: unknown) {}

  type(schema: unknown, indent: string, depth: number): string {
    if (schema === true || schema === undefined) return 'unknown';
    if (schema === false) return 'never';
    if (!schema || typeof schema !== 'object' || depth > MAX_DEPTH) return 'unknown';
    const s = schema as Schema;
    if (typeof s.$ref === 'string') {
      const target = resolvePointer(this.root, s.$ref);
      if (target === undefined || this.refs.includes(s.$ref)) return 'unknown';
      this.refs.push(s.$ref);
      try {
        const { $ref: _ref, ...rest } = s;
        const own = Object.keys(rest).some((k) => !['description', 'title', '$comment', 'examples', 'default'].includes(k));
        const resolved = this.type(target, indent, depth + 1);
        return own ? this.intersection([resolved, this.type(rest, indent, depth + 1)]) : resolved;
      } finally {
        this.refs.pop();
      }
    }
    const nullable = s.nullable === true;
    const parts: string[] = [];
    if (s.const !== undefined) parts.push(JSON.stringify(s.const));
    else if (Array.isArray(s.enum)) parts.push(s.enum.map((v) => JSON.stringify(v)).join(' | ') || 'never');
    else {
      const base = this.plain(s, indent, depth);
      const alternatives = (Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined) as unknown[] | undefined;
      const all = Array.isArray(s.allOf) ? (s.allOf as unknown[]) : undefined;
      const pieces: string[] = [];
      if (base !== undefined) pieces.push(base);
      if (alternatives) pieces.push(this.union(alternatives.map((a) => this.type(a, indent, depth + 1))));
      if (all) pieces.push(...all.map((a) => this.type(a, indent, depth + 1)));
      parts.push(pieces.length ? this.intersection(pieces) : 'unknown');
    }
    if (nullable && !parts.includes('null')) parts.push('null');
    return this.union(parts);
  }

  /** The schema's own `type` (or the shape its keywords imply), undefined when it says none. */
  private plain(s: Schema, indent: string, depth: number): string | undefined {
    let types = Array.isArray(s.type) ? (s.type as unknown[]) : s.type !== undefined ? [s.type] : [];
    if (types.length === 0) {
      if (s.properties || s.additionalProperties !== undefined) types = ['object'];
      else if (s.items || s.prefixItems) types = ['array'];
      else return undefined;
    }
    return this.union(
      types.map((t) => {
        switch (t) {
          case 'string':
          case 'number':
          case 'boolean':
          case 'null':
            return t;
          case 'integer':
            return 'number';
          case 'array':
            return this.array(s, indent, depth);
          case 'object':
            return this.object(s, indent, depth);
          default:
            return 'unknown';
        }
      }),
    );
  }

  private array(s: Schema, indent: string, depth: number): string {
    if (Array.isArray(s.prefixItems)) {
      const items = (s.prefixItems as unknown[]).map((i) => this.type(i, indent, depth + 1));
      const rest = s.items === false ? '' : `, ...${this.wrap(this.type(s.items, indent, depth + 1))}[]`;
      return `[${items.join(', ')}${rest}]`;
    }
    if (Array.isArray(s.items)) return `[${(s.items as unknown[]).map((i) => this.type(i, indent, depth + 1)).join(', ')}]`;
    return `${this.wrap(this.type(s.items, indent, depth + 1))}[]`;
  }

  private object(s: Schema, indent: string, depth: number): string {
    const props = (s.properties && typeof s.properties === 'object' ? s.properties : {}) as Record<string, unknown>;
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    const inner = `${indent}  `;
    const lines = Object.entries(props).map(([name, prop]) => {
      const description = this.description(prop);
      const doc = typeof description === 'string' && description ? jsDoc(description, inner) : '';
      return `${doc}${inner}${propertyKey(name)}${required.has(name) ? '' : '?'}: ${this.type(prop, inner, depth + 1)};`;
    });
    const extra = s.additionalProperties;
    if (extra !== undefined && extra !== false && (lines.length > 0 || (extra !== true && typeof extra === 'object'))) {
      lines.push(`${inner}[key: string]: ${extra === true ? 'unknown' : this.type(extra, inner, depth + 1)};`);
    }
    if (lines.length === 0) return extra === false ? 'Record<string, never>' : 'Record<string, unknown>';
    return `{\n${lines.join('\n')}\n${indent}}`;
  }

  /** A property's description, or that of the schema its `$ref` points to. */
  private description(prop: unknown): unknown {
    if (!prop || typeof prop !== 'object') return undefined;
    const s = prop as Schema;
    if (s.description !== undefined || typeof s.$ref !== 'string') return s.description;
    return refDescription(this.root, s.$ref);
  }

  private union(parts: string[]): string {
    const unique = [...new Set(parts)];
    if (unique.includes('unknown')) return 'unknown';
    return unique.join(' | ');
  }

  private intersection(parts: string[]): string {
    const useful = parts.filter((p) => p !== 'unknown');
    if (useful.length === 0) return 'unknown';
    if (useful.length === 1) return useful[0]!;
    return useful.map((p) => (p.includes(' | ') ? `(${p})` : p)).join(' & ');
  }

  private wrap(type: string): string {
    return /[|&]/.test(type) && !type.startsWith('{') ? `(${type})` : type;
  }
}

/**
 * The TypeScript type of `schema`; `$ref`s are resolved against `root` (the schema itself by
 * default). Nested object types are indented from `indent`.
 */
export function schemaToTs(schema: unknown, options: { root?: unknown; indent?: string } = {}): string {
  return new Writer(options.root ?? schema).type(schema, options.indent ?? '', 0);
}
