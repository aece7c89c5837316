/** Action names: `<service>_<operationId>`, or a stable name from method and path. */

/** What the tool registry accepts (letters, digits and `_ . : - /`, at most 128). */
const MAX_NAME = 128;
const SERVICE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/;

export function assertServiceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SERVICE_NAME.test(name)) {
    throw new TypeError(`invalid OpenAPI source name ${JSON.stringify(name)}: use 1-64 letters, digits and _ . : -`);
  }
}

/** Replaces characters a tool name cannot hold with `_`. */
function clean(text: string): string {
  return text.replace(/[^A-Za-z0-9_.:-]+/g, '_');
}

/** `GET /users/{id}` → `get_users_id`. */
export function nameFromMethodAndPath(method: string, path: string): string {
  const words = path
    .split('/')
    .map((segment) =>
      segment
        .replace(/[{}]/g, '')
        .replace(/[^A-Za-z0-9]+/g, '_')
        .replace(/^_+|_+$/g, ''),
    )
    .filter(Boolean);
  return [method.toLowerCase(), ...words].join('_');
}

/** 32-bit FNV-1a, hex: a short stable suffix for names that must be cut. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/**
 * Gives every operation of a service a unique, valid action name. Later duplicates get
 * `_2`, `_3`, … in spec order; names past 128 characters are cut and end in a hash.
 */
export class ActionNamer {
  private readonly taken = new Set<string>();
  constructor(private readonly service: string) {}

  name(operationId: unknown, method: string, path: string): string {
    const base = typeof operationId === 'string' && operationId.trim() ? clean(operationId.trim()) : nameFromMethodAndPath(method, path);
    let full = `${this.service}_${base}`;
    if (full.length > MAX_NAME) full = `${full.slice(0, MAX_NAME - 9)}_${fnv1a(full)}`;
    let unique = full;
    for (let i = 2; this.taken.has(unique); i++) {
      const suffix = `_${i}`;
      unique = full.slice(0, MAX_NAME - suffix.length) + suffix;
    }
    this.taken.add(unique);
    return unique;
  }
}
