/**
 * Tells a worker whose guest stopped polling its interrupt that is stuck inside a native
 * built-in (its thread had the CPU since the last poll) from one that is starved (its thread
 * waited for the CPU: a busy machine, or the low priority of a spinning guest). A starved
 * worker takes work at its next poll; a stuck one does not.
 */
export class StallJudge {
  /** The last poll stamp seen, and the thread's CPU time (ms) when it was first seen. */
  private poll = Number.NaN;
  private cpuAtPoll = 0;

  constructor(private readonly cpuMs: number) {}

  /**
   * Whether the thread ran at least `cpuMs` of CPU since its guest's poll `poll` was first
   * seen. `cpu` is the thread's CPU time now (ms), undefined where it cannot be read: then a
   * stale poll counts as stuck. A poll seen for the first time counts as starved; the thread's
   * CPU is measured from there.
   */
  ranWithoutPolling(poll: number, cpu: number | undefined): boolean {
    if (cpu === undefined) return true;
    if (poll !== this.poll) {
      this.poll = poll;
      this.cpuAtPoll = cpu;
      return false;
    }
    return cpu - this.cpuAtPoll >= this.cpuMs;
  }
}
