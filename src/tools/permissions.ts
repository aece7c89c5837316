import zeptomatch from 'zeptomatch';

/**
 * A predicate telling whether a tool name is allowed by glob patterns (`users:*`, `*`).
 * `undefined` patterns allow everything; an empty list allows nothing.
 */
export function permissionMatcher(patterns: readonly string[] | undefined): (toolName: string) => boolean {
  if (patterns === undefined) return () => true;
  const list = [...patterns];
  if (list.length === 0) return () => false;
  const cache = new Map<string, boolean>();
  return (name) => {
    let allowed = cache.get(name);
    if (allowed === undefined) {
      allowed = zeptomatch(list, name);
      if (cache.size < 1000) cache.set(name, allowed);
    }
    return allowed;
  };
}
