import { describe, expect, it } from 'vitest';
import { createTurnGuard } from '../../src/pool/turn-guard.node.js';

describe('createTurnGuard', () => {
  const guard = createTurnGuard();

  it('runs the function and answers true when it returns in time', () => {
    let ran = 0;
    expect(guard(() => ran++, 1000)).toBe(true);
    expect(ran).toBe(1);
  });

  it('stops a loop in WebAssembly and answers false', () => {
    // (module (func (export "f") (loop (br 0))))
    const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 9, 1, 7, 0, 3, 64, 12, 0, 11, 11]);
    const spin = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports['f'] as () => void;
    expect(guard(spin, 30)).toBe(false);
    // The thread goes on.
    expect(guard(() => undefined, 1000)).toBe(true);
  });

  it('lets an error of the function through', () => {
    expect(() =>
      guard(() => {
        throw new RangeError('boom');
      }, 1000),
    ).toThrow('boom');
  });
});
