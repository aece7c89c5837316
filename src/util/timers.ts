/** Lets the process exit while `timer` is pending (Node and Bun); a no-op where timers are numbers. */
export function unref(timer: unknown): void {
  (timer as { unref?: () => void } | undefined)?.unref?.();
}
