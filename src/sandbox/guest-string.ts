import type { BorrowedValue, RawOps } from './raw.js';

/**
 * A guest string as it is, character for character.
 *
 * The engine hands strings to the host as NUL-terminated UTF-8, so a plain read stops at the
 * first `\u0000` (`'users:get\u0000x'` would read as `'users:get'`) and turns a lone surrogate
 * into replacement characters. An ASCII read whose length is the guest string's own `length`
 * (a property of the string primitive, which no guest code can change) is exact; anything else
 * is read again as the JSON text the guest's own `JSON.stringify` (captured before any guest
 * code ran) makes of it, where both are escaped. Undefined when even that fails (out of memory,
 * an interrupt).
 */
export function readGuestString(raw: RawOps, value: BorrowedValue, stringify: BorrowedValue): string | undefined {
  const text = raw.getString(value);
  if (isAscii(text)) {
    const length = raw.getProp(value, 'length');
    const exact = raw.typeOf(length) === 'number' && raw.getNumber(length) === text.length;
    raw.free(length);
    if (exact) return text;
  }
  const json = raw.call(stringify, value);
  if (json.error !== undefined) {
    raw.free(json.error);
    return undefined;
  }
  const quoted = raw.getString(json.value);
  raw.free(json.value);
  try {
    const parsed: unknown = JSON.parse(quoted);
    return typeof parsed === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}
