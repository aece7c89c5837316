import type { LogLevel } from '../protocol/events.js';
import type { SandboxFailure, SandboxOutcome, SandboxSpec, ToolSettlement } from '../sandbox/types.js';

/**
 * Messages between the pool (main thread) and a worker thread. Plain objects of strings and
 * numbers only: the sandbox API is string-based, so nothing else needs to cross.
 */
export type SandboxCommand =
  /** `slot`: this sandbox's abort flag in the shared `flags` array (-1: none). */
  | { t: 'start'; id: number; spec: SandboxSpec; slot: number }
  | { t: 'settle'; id: number; callId: number; settlement: ToolSettlement }
  /** Fires a timer the main thread runs (deterministic sessions). */
  | { t: 'fire'; id: number; timer: number; at: number }
  /** Moves the sandbox's deadline by `ms` (see `SandboxHandle.extendDeadline`). */
  | { t: 'deadline'; id: number; ms: number }
  | { t: 'abort'; id: number; failure: SandboxFailure };

export type ToWorker =
  /** The compiled QuickJS WASM (absent when it could not be sent: the worker compiles its own). */
  | { t: 'init'; wasm?: WebAssembly.Module }
  /**
   * Commands of one turn of the main thread's event loop, in order: one message (and one
   * wake-up of the worker) for every session started or settled in that turn.
   */
  | { t: 'cmds'; list: SandboxCommand[] };

/** Cells of the hot channel's two doorbells (see doorbell.node.ts) in their shared `Int32Array`. */
export const BELL_TO_WORKER = 0;
export const BELL_TO_MAIN = 1;

/**
 * Sandboxes a worker starts inside other sandboxes' interrupts, one inside the other, at most
 * (see `takeNestedWork` in worker.node.ts). Each level may hold up to the QuickJS stack of
 * its guest in native frames: the worker's thread stack (64 MiB) has room for them all.
 */
export const MAX_NESTED = 8;

/** Length of the shared abort-flag array each worker gets: sandboxes past it abort by message only. */
export const ABORT_SLOTS = 4096;

/** One thing a sandbox did, tagged with the pool's id for it. */
export type SandboxEvent =
  | { id: number; k: 'call'; callId: number; name: string; args: string }
  | { id: number; k: 'out'; chunk: string }
  | { id: number; k: 'log'; level: LogLevel; message: string }
  /** A timer the guest set (`ms` ≥ 0) or cleared (`ms` = -1), for a listener that runs them. */
  | { id: number; k: 'timer'; timer: number; ms: number }
  | { id: number; k: 'done'; outcome: SandboxOutcome };

export type FromWorker =
  /** The worker has instantiated a QuickJS module and can run sandboxes at once. */
  | { t: 'ready' /** The worker thread's id (Linux), to raise its priority from the main thread. */; tid?: number }
  /** Sent on a timer: a worker whose heartbeats stop is running guest code (or is stuck). */
  | { t: 'hb' }
  /**
   * The worker lowered its priority for a spinning guest and may not raise it again: it
   * should get no new sessions and be replaced once idle.
   */
  | { t: 'low' }
  /**
   * Events of one turn of the worker's event loop, in order (batched to cut message count),
   * and how many `start`/`settle`/`fire` messages the worker has finished handling since its last
   * batch: the main thread uses that to see a worker stuck in guest code at once.
   */
  | { t: 'ev'; list: SandboxEvent[]; acks: number };
