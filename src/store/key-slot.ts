import { hashTag } from './lua-store.js';

/**
 * CRC16-CCITT (XMODEM) table, as Redis Cluster hashes keys (its specification's `crc16`).
 * Written here rather than taken from `cluster-key-slot` (what ioredis uses): this file is
 * part of the store module every platform bundles, Workers included, and must not pull in
 * ioredis or a CommonJS package.
 */
const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

const encoder = new TextEncoder();

/** The Redis Cluster hash slot (0–16383) of `key`: CRC16 of its hash tag (or whole key), mod 16384. */
export function keySlot(key: string): number {
  let crc = 0;
  for (const byte of encoder.encode(hashTag(key))) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc % 16384;
}
