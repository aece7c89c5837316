import type { StreamEvent } from '../protocol/events.js';
import type { SessionRecord, SessionStatus } from '../store/types.js';
import type { CallerIdentity } from '../tools/types.js';

/** The reference's `Session` as `GET /sessions/:id` answers it, plus a few extra fields. */
export interface SessionInfo {
  id: string;
  status: SessionStatus;
  createdAt: number;
  expiresAt: number;
  lastSeq: number;
  endedAt?: number;
  errorCode?: string;
  /** Broker events only: the identity that created the session (from authentication). */
  userId?: string;
  tenantId?: string;
  permissions?: string[];
}

export function sessionInfo(record: SessionRecord): SessionInfo {
  const info: SessionInfo = {
    id: record.id,
    status: record.status,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    lastSeq: record.lastSeq,
  };
  if (record.endedAt !== undefined) info.endedAt = record.endedAt;
  if (record.errorCode !== undefined) info.errorCode = record.errorCode;
  return info;
}

/** The session's final outcome as the broker events report it. */
export interface SessionError {
  code: string;
  message: string;
  /** The thrown Error's name (RUNTIME_ERROR, SYNTAX_ERROR). */
  name?: string;
  stack?: string;
  details?: unknown;
}

/** The reference's broker events (SPEC §9). */
export interface BrokerEventMap {
  'session:created': (session: SessionInfo) => void;
  'session:completed': (session: SessionInfo, result: unknown) => void;
  'session:error': (session: SessionInfo, error: SessionError) => void;
  'tool:called': (session: SessionInfo, toolName: string, args: Record<string, unknown>) => void;
  'tool:completed': (session: SessionInfo, toolName: string, result: unknown) => void;
}

/** Who a session belongs to and what it may do. */
export interface SessionOwner extends CallerIdentity {
  /** tenantId, else userId; sessions are visible only to the same key. */
  readonly key?: string;
}

/** Tenants and users are kept apart (`t:`/`u:`), so a user named like a tenant sees nothing of it. */
export function ownerKey(identity: CallerIdentity | undefined): string | undefined {
  if (identity?.tenantId !== undefined) return `t:${identity.tenantId}`;
  if (identity?.userId !== undefined) return `u:${identity.userId}`;
  return undefined;
}

/** A result or error for a client tool call. */
export type ToolResultInput = { result: unknown; error?: undefined } | { result?: undefined; error: { message: string; code?: string } };

export type { StreamEvent };
