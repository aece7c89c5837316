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
  /** Starts a sandbox; its listener hears everything it does. */
  start(spec: SandboxSpec, listener: SandboxListener): SandboxHandle;
  /** Gets ready to serve the first request without compiling anything. */
  warm(): Promise<void>;
  stats(): ExecutorStats;
  close(): Promise<void>;
}
