import type { RetryOptions } from './types.js';

export interface Backoff {
  attempts: number;
  delay(attempt: number): number;
}

export function backoff(options: RetryOptions = {}): Backoff {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 5000;
  return {
    attempts,
    // Exponential with jitter in [50 %, 100 %] of the step.
    delay: (attempt) => {
      const step = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
      return Math.round(step / 2 + (Math.random() * step) / 2);
    },
  };
}

/** Waits `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
