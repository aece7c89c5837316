const encoder = new TextEncoder();

/** UTF-8 length of a string, without allocating when it is ASCII. */
export function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return encoder.encode(s).length;
  return s.length;
}
