import { readFileSync } from 'node:fs';

/**
 * Milliseconds of CPU a thread of this process has run so far (Linux: the first field of
 * `/proc/self/task/<tid>/schedstat`, in nanoseconds), or undefined where that cannot be read.
 */
export function threadCpuMs(tid: number | undefined): number | undefined {
  if (tid === undefined || unavailable) return undefined;
  try {
    const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ', 1)[0]);
    return Number.isFinite(ns) ? ns / 1e6 : undefined;
  } catch (err) {
    // No procfs (macOS, a sandboxed container): not tried again. A thread that is gone: undefined.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') unavailable = true;
    return undefined;
  }
}

let unavailable = false;
