const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** A random id of `length` base-62 characters from the Web Crypto API (≈ 5.95 bits each). */
export function randomId(length = 22): string {
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  let out = '';
  // 62 * 4 = 248: rejecting bytes ≥ 248 keeps the distribution uniform.
  for (let i = 0; i < bytes.length; i++) {
    let b = bytes[i]!;
    while (b >= 248) b = crypto.getRandomValues(new Uint8Array(1))[0]!;
    out += ALPHABET[b % 62];
  }
  return out;
}

export const newSessionId = (): string => `s_${randomId()}`;
export const newCallId = (): string => `c_${randomId()}`;

const SESSION_ID = /^s_[0-9A-Za-z_-]{1,128}$/;
const CALL_ID = /^c_[0-9A-Za-z_-]{1,128}$/;

export const isSessionId = (id: string): boolean => SESSION_ID.test(id);
export const isCallId = (id: string): boolean => CALL_ID.test(id);
