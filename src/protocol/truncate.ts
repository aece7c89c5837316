/**
 * Cuts a JSON value down to a byte budget, keeping valid JSON of the same shape and marking
 * every cut (`resultOverflow: 'truncate'`). What is kept is the beginning — strings' first
 * characters, arrays' first items, objects' first keys in their order — and the marks are:
 *
 * - a string that was cut ends with `…[truncated N chars]` (N: the characters removed);
 * - an array that lost items ends with one marker item `{ "$truncated": "N more items" }`;
 * - an object that lost keys gets a last key `"$truncated": "N more keys"`;
 * - a value that could not be kept at all inside a container is replaced by its marker.
 *
 * The final event of a session whose result was cut carries `truncated: true`.
 */

import { utf8Length } from '../util/bytes.js';

const MARK_KEY = '$truncated';

const bytes = utf8Length;

function size(value: unknown): number {
  return bytes(JSON.stringify(value) ?? 'null');
}

function cutString(s: string, budget: number): string | undefined {
  if (size(s) <= budget) return s;
  // Find the longest prefix whose marked JSON fits (binary search on UTF-16 length).
  let lo = 0;
  let hi = s.length;
  let best: string | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    let prefix = s.slice(0, mid);
    // Do not split a surrogate pair.
    if (mid > 0 && /[\uD800-\uDBFF]$/.test(prefix)) prefix = prefix.slice(0, -1);
    const candidate = `${prefix}…[truncated ${s.length - prefix.length} chars]`;
    if (size(candidate) <= budget) {
      best = candidate;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/** `value` cut to fit `budget` bytes of JSON; undefined when not even a marker fits. */
function fit(value: unknown, budget: number): unknown {
  if (budget <= 0) return undefined;
  if (typeof value === 'string') return cutString(value, budget);
  if (value === null || typeof value !== 'object') return size(value) <= budget ? value : undefined;
  if (size(value) <= budget) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    let used = 2; // []
    for (let i = 0; i < value.length; i++) {
      const rest = value.length - i;
      const marker = { [MARK_KEY]: `${rest} more items` };
      const reserve = rest > 1 ? size(marker) + 1 : 0;
      const comma = out.length > 0 ? 1 : 0;
      const item = fit(value[i], budget - used - comma - reserve);
      if (item === undefined) break;
      out.push(item);
      used += comma + size(item);
      if (item !== value[i]) break; // an item that had to be cut ends the array
    }
    const dropped = value.length - out.length;
    if (dropped > 0) {
      const marker = { [MARK_KEY]: `${dropped} more items` };
      while (out.length > 0 && used + (out.length > 0 ? 1 : 0) + size(marker) > budget) {
        out.pop();
        used = size(out);
      }
      const mark = { [MARK_KEY]: `${value.length - out.length} more items` };
      if (size([...out, mark]) > budget) return undefined;
      out.push(mark);
    }
    return size(out) <= budget ? out : undefined;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  // No prototype: a key named `__proto__` stays a key.
  const out = Object.create(null) as Record<string, unknown>;
  let kept = 0;
  let used = 2; // {}
  for (let i = 0; i < entries.length; i++) {
    const [key, v] = entries[i]!;
    const rest = entries.length - i;
    const reserve = rest > 1 ? bytes(JSON.stringify(MARK_KEY)) + 1 + size(`${rest} more keys`) + 1 : 0;
    const head = (kept > 0 ? 1 : 0) + bytes(JSON.stringify(key)) + 1;
    const item = fit(v, budget - used - head - reserve);
    if (item === undefined) break;
    out[key] = item;
    kept++;
    used += head + size(item);
    if (item !== v) break;
  }
  const dropped = entries.length - kept;
  if (dropped > 0) {
    const keys = Object.keys(out);
    const marked = () => ({ ...out, [MARK_KEY]: `${entries.length - Object.keys(out).length} more keys` });
    while (keys.length > 0 && size(marked()) > budget) delete out[keys.pop()!];
    const result = marked();
    if (size(result) > budget) return undefined;
    return result;
  }
  return size(out) <= budget ? out : undefined;
}

/**
 * The JSON text `json` cut to at most `maxBytes` bytes (see above), or undefined when not even
 * a marker fits. A text that fits is returned as it is.
 */
export function truncateJson(json: string, maxBytes: number): string | undefined {
  if (bytes(json) <= maxBytes) return json;
  const value: unknown = JSON.parse(json);
  let cut = fit(value, maxBytes);
  if (cut === undefined) {
    const marker = { [MARK_KEY]: `a result of ${bytes(json)} bytes` };
    cut = size(marker) <= maxBytes ? marker : undefined;
  }
  return cut === undefined ? undefined : JSON.stringify(cut);
}
