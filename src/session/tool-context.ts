import { ON_ABORT, type AbortListenable } from '../tools/abort.js';
import type { CallerIdentity, ExecutionContext, ToolProgress } from '../tools/types.js';

/** What a call's context needs from its session. */
export interface CallOwner {
  readonly id: string;
  readonly identity: CallerIdentity;
  readonly contextFrozen: Readonly<Record<string, unknown>>;
  /** The call's abort controller, made on first use (most handlers never look at it). */
  signalOf(callId: string): AbortSignal;
  /** Runs `listener` when the call's signal would fire, without making the signal. */
  onAbort(callId: string, listener: () => void): void;
  reportProgress(callId: string, update: ToolProgress): void;
}

/**
 * The `ExecutionContext` a server tool's handler gets. A class, so that a call costs one
 * small object: `signal` is made on first read; `progress` is an own function, so that a
 * handler may take it out of the context (`async (args, { progress }) => …`).
 */
export class ToolCallContext implements ExecutionContext, AbortListenable {
  readonly sessionId: string;
  readonly context: Readonly<Record<string, unknown>>;
  readonly progress: (update: ToolProgress) => void;
  declare userId?: string;
  declare tenantId?: string;
  declare permissions?: string[];
  readonly #owner: CallOwner;

  constructor(
    owner: CallOwner,
    readonly callId: string,
    readonly toolName: string,
  ) {
    // The caller's identity first, as the fields of a plain context object would come.
    Object.assign(this, owner.identity);
    this.#owner = owner;
    this.sessionId = owner.id;
    this.context = owner.contextFrozen;
    this.progress = (update) => owner.reportProgress(callId, update);
  }

  get signal(): AbortSignal {
    return this.#owner.signalOf(this.callId);
  }

  [ON_ABORT](listener: () => void): void {
    this.#owner.onAbort(this.callId, listener);
  }
}
