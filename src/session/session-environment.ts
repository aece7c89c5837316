import type { StreamEvent } from '../protocol/events.js';
import type { Executor } from '../pool/executor.js';
import type { BrokerStore } from '../store/types.js';
import type { CallerIdentity } from '../tools/types.js';
import type { EventCursor } from './cursor.js';
import type { ResumeState } from './journal.js';
import type { BrokerLimits } from './limits.js';
import type { ToolRoute } from './tool-resolver.js';
import type { BrokerEventMap } from './types.js';
import type { Logger } from '../logger.js';

/** What a session needs from the broker around it. */
export interface SessionEnvironment {
  store: BrokerStore;
  executor: Executor;
  resolveTool(name: string): ToolRoute;
  /** The plan of the guest's `tools` object for a caller's permissions (see sandbox/tool-namespace.ts). */
  toolNamespace?(permissions?: string[]): string | undefined;
  emit<K extends keyof BrokerEventMap>(event: K, ...args: Parameters<BrokerEventMap[K]>): void;
  /** Whether anyone listens to a broker event (spares building its arguments). */
  listening(event: keyof BrokerEventMap): boolean;
  logger: Logger;
  /** Called once the session's final event is stored (or once this copy stopped: see `lost`). */
  onEnded(session: { readonly id: string }): void;
  /**
   * With a shared store: whether this process's hold on its sessions is known to be current
   * (renewed within the lease), and a way to renew it now. A session starts no server tool
   * while its hold is not known to be current: a process paused or cut off past its lease
   * learns it lost the session before it calls anything.
   */
  ownership?: {
    current(): boolean;
    confirm(): Promise<void>;
  };
  /**
   * With a shared store: a cursor that goes on from the store after `afterSeq`, for the
   * readers of a copy that stopped because another process owns the session now.
   */
  handoff?(sessionId: string, afterSeq: number, accept: ((e: StreamEvent) => boolean) | undefined): Promise<EventCursor>;
  /** Set while the broker shuts down: a write the store cannot take is not tried again. */
  closing?: boolean;
}

export interface SessionInit {
  id: string;
  code: string;
  context: Record<string, unknown>;
  limits: BrokerLimits;
  identity: CallerIdentity;
  /** tenantId or userId: who may see the session. */
  tenant: string | undefined;
  owner: string;
  sessionTimeoutMs: number;
  /** Path prefix the HTTP API is mounted under ('' at the root). */
  basePath: string;
  /** Whether a reader is attached from the start (the stream that created the session). */
  attached: boolean;
  /** Whether the caller may call a server-side tool (from `permissions`). */
  allowTool: (toolName: string) => boolean;
  /**
   * Make the run replayable (seeded `Math.random`, virtual clock, timers run by the session)
   * and journal every input the guest gets (tool outcomes, timer firings), so that the code
   * can be run again from the journal: on a new sandbox when its sandbox crashes, and with
   * `journalInStore`, on another process when this one dies.
   */
  durable?: boolean;
  /** Write the journal to the store (a shared or persistent one), for a resume elsewhere. */
  journalInStore?: boolean;
  /** Set when this process resumes a session whose owner died (see `SessionManager`). */
  resume?: ResumeState;
  /** The fencing epoch this process holds the session at (1 for a new session). */
  epoch?: number;
}
