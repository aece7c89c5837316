import { describe, expect, it } from 'vitest';
import { defaultPoolOptions, resolvePoolOptions } from '../../src/pool/options.js';

describe('runtime pool options', () => {
  it('derives defaults from the core count', () => {
    expect(defaultPoolOptions(8)).toMatchObject({ minSize: 1, maxSize: 8 });
    expect(defaultPoolOptions(1).maxSize).toBe(2);
    const r = resolvePoolOptions({}, 4);
    expect(r).toMatchObject({ minSize: 1, maxSize: 4, scaleUpThreshold: 0.75, scaleDownThreshold: 0.25, scaleInterval: 1000, handoffSpinMs: 0 });
    expect(resolvePoolOptions({ handoffSpinMs: 0.3 }, 4).handoffSpinMs).toBe(0.3);
  });

  it('keeps a consistent pool when only some options are given', () => {
    expect(resolvePoolOptions({ minSize: 6 }, 2)).toMatchObject({ minSize: 6, maxSize: 6 });
    expect(resolvePoolOptions({ maxSize: 1 }, 8)).toMatchObject({ minSize: 1, maxSize: 1 });
    expect(resolvePoolOptions({ scaleUpThreshold: 0.1 }, 2).scaleDownThreshold).toBe(0.1);
  });

  it.each([
    [{ minSize: 3, maxSize: 2 }, /minSize \(3\) must not exceed maxSize \(2\)/],
    [{ minSize: -1 }, /minSize must be an integer >= 0/],
    [{ maxSize: 0 }, /maxSize must be an integer >= 1/],
    [{ maxSize: 1.5 }, /maxSize must be an integer/],
    [{ scaleUpThreshold: 1.2 }, /scaleUpThreshold must be a number between 0 and 1/],
    [{ scaleDownThreshold: -0.1 }, /scaleDownThreshold must be a number between 0 and 1/],
    [{ scaleUpThreshold: Number.NaN }, /scaleUpThreshold/],
    [{ scaleUpThreshold: 0.3, scaleDownThreshold: 0.5 }, /scaleDownThreshold \(0.5\) must not exceed scaleUpThreshold \(0.3\)/],
    [{ scaleInterval: 0 }, /scaleInterval must be a positive number/],
    [{ terminateGraceMs: Infinity }, /terminateGraceMs/],
    [{ maxEventsPerSandbox: 0 }, /maxEventsPerSandbox/],
    [{ handoffSpinMs: -1 }, /handoffSpinMs must be a number of ms from 0 to 5/],
    [{ handoffSpinMs: 6 }, /handoffSpinMs must be a number of ms from 0 to 5/],
    [{ handoffSpinMs: Number.NaN }, /handoffSpinMs/],
  ])('rejects %o with a TypeError', (options, message) => {
    expect(() => resolvePoolOptions(options, 2)).toThrow(TypeError);
    expect(() => resolvePoolOptions(options, 2)).toThrow(message);
  });
});
