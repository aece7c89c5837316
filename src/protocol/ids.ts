const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Random bytes drawn from the Web Crypto API in blocks (one call per block, not per id). */
const pool = new Uint8Array(4096);
let used = pool.length;

function randomByte(): number {
  if (used >= pool.length) {
    crypto.getRandomValues(pool);
    used = 0;
  }
  return pool[used++]!;
}

/** A random id of `length` base-62 characters (≈ 5.95 bits each). */
export function randomId(length = 22): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    // 62 * 4 = 248: rejecting bytes ≥ 248 keeps the distribution uniform.
    let b = randomByte();
    while (b >= 248) b = randomByte();
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
