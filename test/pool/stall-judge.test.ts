import { describe, expect, it } from 'vitest';
import { StallJudge } from '../../src/pool/stall-judge.js';

describe('StallJudge: stuck in a built-in, or starved of CPU', () => {
  it('counts a poll seen for the first time as starved, and measures the CPU from there', () => {
    const judge = new StallJudge(20);
    expect(judge.ranWithoutPolling(1000, 500)).toBe(false);
    // Same poll, the thread barely ran: starved.
    expect(judge.ranWithoutPolling(1000, 505)).toBe(false);
    expect(judge.ranWithoutPolling(1000, 519.9)).toBe(false);
    // Same poll, 20 ms of CPU since: stuck.
    expect(judge.ranWithoutPolling(1000, 520)).toBe(true);
    expect(judge.ranWithoutPolling(1000, 900)).toBe(true);
  });

  it('starts over when the guest polled again', () => {
    const judge = new StallJudge(20);
    judge.ranWithoutPolling(1000, 500);
    expect(judge.ranWithoutPolling(1000, 600)).toBe(true);
    expect(judge.ranWithoutPolling(1040, 610)).toBe(false);
    expect(judge.ranWithoutPolling(1040, 615)).toBe(false);
    expect(judge.ranWithoutPolling(1040, 630)).toBe(true);
  });

  it('counts a stale poll as stuck where the thread CPU time cannot be read', () => {
    const judge = new StallJudge(20);
    expect(judge.ranWithoutPolling(1000, undefined)).toBe(true);
    expect(judge.ranWithoutPolling(1000, undefined)).toBe(true);
  });
});
