import type { SandboxHandle, SandboxListener, SandboxSpec } from '../sandbox/types.js';

/** Load figures an executor reports to `/health`. */
export interface ExecutorStats {
  kind: string;
  /** Sandboxes running now. */
  active: number;
  [key: string]: unknown;
}

/**
 * Where sandboxes run: the session layer talks to this and never knows whether the guest
 * lives on this thread or in a worker.
 */
export interface Executor {
  readonly kind: string;
  /**
   * True when a sandbox may wait (in a worker's queue) before its code runs: the listener's
   * `onStarted` then says when it ran. False or absent: the code runs within `start()`.
   */
  readonly reportsStart?: boolean;
  /**
   * Optional: false when a new sandbox would only wait behind guest code (every thread held by
   * code that does not reach its interrupt, none can be added) or the memory budget is spent.
   * The session layer then answers 503 TOO_MANY_SESSIONS with Retry-After instead.
   */
  accepting?(): boolean;
  /** Starts a sandbox; its listener hears everything it does. */
  start(spec: SandboxSpec, listener: SandboxListener): SandboxHandle;
  /** Gets ready to serve the first request without compiling anything. */
  warm(): Promise<void>;
  stats(): ExecutorStats;
  close(): Promise<void>;
}
