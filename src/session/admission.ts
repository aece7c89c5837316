import { BrokerError } from '../protocol/errors.js';
import type { Executor } from '../pool/executor.js';
import type { CallerIdentity } from '../tools/types.js';
import { checkCodeSize, requestLimits, type BrokerLimits } from './limits.js';
import type { Session } from './session.js';
import { ownerKey } from './types.js';

/** What admits a new session on this process. */
export interface AdmissionRules {
  maxConcurrentSessions: number;
  /** Sessions one tenant (or user) may run at once on this process; none when undefined. */
  maxSessionsPerTenant?: number;
  /** The broker's limits, which a request may lower. */
  limits: BrokerLimits;
}

/** What a new session asks for. */
export interface AdmissionRequest {
  code: string;
  context?: Record<string, unknown>;
  limits?: Partial<BrokerLimits>;
  identity?: CallerIdentity;
}

/**
 * Whether this process takes one more session (503 TOO_MANY_SESSIONS with Retry-After when
 * it is full, when the pool takes no sandbox now, or when the caller's tenant runs its share),
 * and whether the request is valid; the session's limits when it is.
 */
export function admit(rules: AdmissionRules, running: ReadonlyMap<string, Session>, executor: Executor, input: AdmissionRequest): BrokerLimits {
  if (running.size >= rules.maxConcurrentSessions) {
    throw new BrokerError('TOO_MANY_SESSIONS', `this broker runs ${sessionCount(rules.maxConcurrentSessions)} already`, undefined, {
      'Retry-After': '1',
    });
  }
  if (executor.accepting && !executor.accepting()) {
    throw new BrokerError('TOO_MANY_SESSIONS', 'no sandbox can start now: the runtime pool is held by running code, or its memory budget is spent', undefined, {
      'Retry-After': '1',
    });
  }
  const tenantKey = ownerKey(input.identity ?? {});
  if (tenantKey !== undefined && rules.maxSessionsPerTenant !== undefined) {
    let mine = 0;
    for (const s of running.values()) if (s.tenant === tenantKey) mine++;
    if (mine >= rules.maxSessionsPerTenant) {
      throw new BrokerError('TOO_MANY_SESSIONS', `this tenant runs ${sessionCount(rules.maxSessionsPerTenant)} already`, undefined, { 'Retry-After': '1' });
    }
  }
  const limits = requestLimits(rules.limits, input.limits);
  checkCodeSize(input.code, limits);
  if (input.context !== undefined && nestedDeeperThan(input.context, MAX_CONTEXT_DEPTH)) {
    throw new BrokerError('VALIDATION_ERROR', `context nests deeper than ${MAX_CONTEXT_DEPTH} levels`);
  }
  return limits;
}

/** Deepest `context` accepted (deeper ones overflow the stack while it is copied and frozen). */
const MAX_CONTEXT_DEPTH = 256;

/** Whether arrays/objects nest deeper than `max` (iterative, so any depth is safe to check). */
function nestedDeeperThan(root: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (!value || typeof value !== 'object' || seen.has(value)) continue;
    if (depth > max) return true;
    seen.add(value);
    for (const v of Object.values(value)) if (v && typeof v === 'object') stack.push([v, depth + 1]);
  }
  return false;
}

/** `1 session`, `2 sessions`. */
function sessionCount(n: number): string {
  return `${n} ${n === 1 ? 'session' : 'sessions'}`;
}
