import { describe, expect, it } from 'vitest';
import { FULL_INTRINSICS, intrinsicsFor, LEAN_INTRINSICS, needsTypedArrays, TYPED_ARRAY_GLOBALS } from '../../src/sandbox/intrinsics.js';

describe('typed arrays by name', () => {
  it('counts every typed-array global, wherever the name stands', () => {
    for (const name of TYPED_ARRAY_GLOBALS) {
      expect(needsTypedArrays(`return new ${name}(1)`), name).toBe(true);
      expect(needsTypedArrays(`return eval('typeof ${name}')`), name).toBe(true);
      expect(needsTypedArrays(`// uses ${name}\nreturn 1`), name).toBe(true);
    }
    expect(intrinsicsFor('return x instanceof ArrayBuffer')).toBe(FULL_INTRINSICS);
  });

  it('leaves them out of a script that names none', () => {
    for (const code of [
      'return 1 + 2',
      'return Array.isArray([]) && new Array(3).length',
      "return globalThis['Uint' + '8Array']",
      'const typedArray = 1; return typedArray',
    ]) {
      expect(needsTypedArrays(code), code).toBe(false);
      expect(intrinsicsFor(code)).toBe(LEAN_INTRINSICS);
    }
    expect(LEAN_INTRINSICS).toEqual({ ...FULL_INTRINSICS, TypedArrays: false });
  });

  it('answers each new script on its own, not the previous one', () => {
    expect(needsTypedArrays('return new Uint8Array(1)')).toBe(true);
    expect(needsTypedArrays('return 1')).toBe(false);
    expect(needsTypedArrays('return new Uint8Array(1)')).toBe(true);
  });
});
